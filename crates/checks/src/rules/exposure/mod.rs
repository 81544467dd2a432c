pub mod ingress_nginx_snippet_annotation;
pub mod ingress_without_tls;
pub mod loadbalancer_source_ranges_missing;
pub mod service_external_ips;
pub mod service_nodeport;
