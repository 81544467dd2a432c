pub(crate) fn parse_metadata(_d: &[u8], _p: &str) -> super::Found {
    Default::default()
}
pub(crate) fn parse_requirements(_d: &[u8], _p: &str) -> super::Found {
    Default::default()
}
pub(crate) fn parse_poetry(_d: &[u8], _p: &str) -> super::Found {
    Default::default()
}
pub(crate) fn parse_uv(_d: &[u8], _p: &str) -> super::Found {
    Default::default()
}
