pub mod image_tag_latest;
