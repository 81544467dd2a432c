pub mod container_root_filesystem_writable;
pub mod container_runtime_socket_mounted;
pub mod host_path_sensitive;
pub mod pod_share_process_namespace;
