//! The API-server defaulting that changes what PodSecurity sees.
//!
//! PodSecurity admission runs after defaulting, so the object it checks is the defaulted one
//! (kubernetes/kubernetes `pkg/apis/core/v1/defaults.go`).

use k8s_openapi::api::core::v1::{Container, EmptyDirVolumeSource, PodSpec, Volume};

/// Applies the defaults that matter to the checks:
///
/// * `SetDefaults_Volume`: a volume with no source becomes an `emptyDir` (so it passes
///   `restrictedVolumes`).
/// * `SetDefaults_Pod`: with `hostNetwork: true`, each container and init container port
///   without a `hostPort` gets `hostPort = containerPort` (so it fails `hostPorts`). Pods only:
///   pod templates stopped getting this default in v1.28 (feature gate
///   `DefaultHostNetworkHostPortsInPodTemplates`, off by default).
pub fn apply_api_defaults(spec: &mut PodSpec, is_pod: bool) {
    for v in spec.volumes.iter_mut().flatten() {
        if !has_source(v) {
            v.empty_dir = Some(EmptyDirVolumeSource::default());
        }
    }
    if is_pod && spec.host_network == Some(true) {
        default_host_network_ports(&mut spec.containers);
        default_host_network_ports(spec.init_containers.get_or_insert_with(Vec::new));
        if spec.init_containers.as_ref().is_some_and(Vec::is_empty) {
            spec.init_containers = None;
        }
    }
}

fn default_host_network_ports(containers: &mut [Container]) {
    for c in containers {
        for p in c.ports.iter_mut().flatten() {
            if p.host_port.unwrap_or(0) == 0 {
                p.host_port = Some(p.container_port);
            }
        }
    }
}

fn has_source(v: &Volume) -> bool {
    v.aws_elastic_block_store.is_some()
        || v.azure_disk.is_some()
        || v.azure_file.is_some()
        || v.cephfs.is_some()
        || v.cinder.is_some()
        || v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.fc.is_some()
        || v.flex_volume.is_some()
        || v.flocker.is_some()
        || v.gce_persistent_disk.is_some()
        || v.git_repo.is_some()
        || v.glusterfs.is_some()
        || v.host_path.is_some()
        || v.image.is_some()
        || v.iscsi.is_some()
        || v.nfs.is_some()
        || v.persistent_volume_claim.is_some()
        || v.photon_persistent_disk.is_some()
        || v.portworx_volume.is_some()
        || v.projected.is_some()
        || v.quobyte.is_some()
        || v.rbd.is_some()
        || v.scale_io.is_some()
        || v.secret.is_some()
        || v.storageos.is_some()
        || v.vsphere_volume.is_some()
}
