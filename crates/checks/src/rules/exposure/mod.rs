pub mod service_external_ips;
