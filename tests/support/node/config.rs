//! The real node's configuration files: containerd (CRI, without CAP_SYS_RESOURCE), the CNI
//! bridge network on rn0, and the kubelet.

use std::path::Path;

use super::{NODE_IP, POD_CIDR};

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

/// Writes every config file under `dir`; `ca_pem` is the CA the kubelet trusts for client
/// certificates (the API server's kubelet client certificate is signed by it).
pub fn write_all(dir: &Path, ca_pem: &str) -> Result<(), String> {
    let r = dir.display();
    write(&dir.join("pki/ca.crt"), ca_pem)?;
    write(
        &dir.join("containerd/config.toml"),
        &format!(
            r#"version = 2
root = "{r}/containerd/root"
state = "{r}/containerd/state"
[grpc]
  address = "{r}/containerd/containerd.sock"
[ttrpc]
  address = "{r}/containerd/containerd-ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  # the default is /opt/containerd
  path = "{r}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # no CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj below containerd's own
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/bin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{r}/cni/net.d"
    max_conf_num = 1
"#,
            pause = super::PAUSE_IMAGE
        ),
    )?;
    write(
        &dir.join("cni/net.d/10-realnode.conflist"),
        &format!(
            r#"{{
  "cniVersion": "0.4.0",
  "name": "realnode",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{bridge}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "dataDir": "{r}/cni/ipam",
        "ranges": [[{{"subnet": "{POD_CIDR}", "gateway": "{NODE_IP}"}}]],
        "routes": [{{"dst": "0.0.0.0/0"}}]
      }}
    }},
    {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
  ]
}}
"#,
            bridge = super::host::BRIDGE
        ),
    )?;
    write(
        &dir.join("kubelet/config.yaml"),
        &format!(
            r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: false}}
  x509: {{clientCAFile: {r}/pki/ca.crt}}
authorization: {{mode: AlwaysAllow}}
cgroupDriver: cgroupfs
failSwapOn: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard: {{memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}}
imageGCHighThresholdPercent: 100
nodeStatusUpdateFrequency: 2s
"#
        ),
    )
}
