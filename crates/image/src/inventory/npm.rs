pub(crate) fn is_installed_manifest(_p: &str) -> bool {
    false
}
pub(crate) fn parse_lock(_d: &[u8], _p: &str) -> super::Found {
    Default::default()
}
pub(crate) fn parse_package_json(_d: &[u8], _p: &str) -> super::Found {
    Default::default()
}
