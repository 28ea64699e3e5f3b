//! Why a pull failed, from the container runtime's message as the kubelet passes it on (the
//! waiting message, or the kubelet's `Failed` event): containerd 1.x and 2.x, CRI-O (through
//! containers/image), and Docker (dockershim before Kubernetes 1.24, cri-dockerd after). Each
//! runtime words the same refusal its own way; the classes are the registry's answer.

/// Why the registry refused an image, from the kubelet's / containerd's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullProblem {
    NotFound,
    Unauthorized,
    /// `pull access denied, repository does not exist or may require authorization` (Docker
    /// Hub and registries like it answer a missing repository and a private one alike).
    DeniedOrMissing,
    Unreachable,
    InvalidName,
    /// `no match for platform in manifest`: no variant for the node's architecture.
    Platform,
    /// `429 Too Many Requests` / `toomanyrequests` (Docker Hub's anonymous pull limit).
    RateLimited,
    /// `x509: certificate signed by unknown authority`: a home registry's own certificate.
    UntrustedCertificate,
    /// `server gave HTTP response to HTTPS client`: a plain-HTTP registry asked over HTTPS.
    PlainHttpRegistry,
    /// `no space left on device` while fetching or unpacking: the node's disk is full.
    NodeDiskFull,
    Unknown,
}

impl PullProblem {
    pub(crate) fn classify(reason: &str, message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if reason == "InvalidImageName" || m.contains("invalid reference format") {
            Self::InvalidName
        } else if m.contains("no match for platform")
            || m.contains("no matching manifest for")
            || m.contains("no image found in image index for architecture")
            || m.contains("no image found in manifest list for architecture")
        {
            Self::Platform
        } else if m.contains("429 too many requests") || m.contains("toomanyrequests") {
            Self::RateLimited
        } else if m.contains("x509:") || m.contains("certificate signed by unknown authority") {
            Self::UntrustedCertificate
        } else if m.contains("http response to https client") {
            Self::PlainHttpRegistry
        } else if m.contains("no space left on device") {
            Self::NodeDiskFull
        } else if m.contains("repository does not exist or may require") {
            Self::DeniedOrMissing
        } else if m.contains("401 unauthorized")
            || m.contains("403 forbidden")
            || m.contains("failed to authorize")
            || m.contains("pull access denied")
            || m.contains("authorization failed")
            || m.contains("unauthorized")
            || m.contains("denied")
        {
            Self::Unauthorized
        } else if m.contains("no such host")
            || m.contains("dial tcp")
            || m.contains("i/o timeout")
            || m.contains("connection refused")
            || m.contains("tls handshake timeout")
            || m.contains("network is unreachable")
            || m.contains("server misbehaving")
        {
            Self::Unreachable
        } else if m.contains("not found") || m.contains("manifest unknown") {
            Self::NotFound
        } else {
            Self::Unknown
        }
    }

    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::NotFound => "the image or tag does not exist in the registry (not found)",
            Self::Unauthorized => {
                "the registry refused the pull (unauthorized: private image, no or wrong imagePullSecrets)"
            }
            Self::DeniedOrMissing => {
                "the registry denies the pull: the repository does not exist, or it is private and needs imagePullSecrets (the registry answers both alike)"
            }
            Self::Unreachable => {
                "the node cannot reach the registry (unreachable: DNS, network or TLS)"
            }
            Self::InvalidName => "the image name is not a valid reference",
            Self::Platform => "the image has no variant for the node's platform",
            Self::RateLimited => {
                "the registry limits pulls (429 Too Many Requests: anonymous pull rate limit)"
            }
            Self::UntrustedCertificate => {
                "the node does not trust the registry's certificate (x509: signed by an unknown authority)"
            }
            Self::PlainHttpRegistry => {
                "the registry speaks plain HTTP and the node asked it over HTTPS"
            }
            Self::NodeDiskFull => "the node's disk is full (no space left on device)",
            Self::Unknown => "the registry refused the pull",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn c(m: &str) -> PullProblem {
        PullProblem::classify("ErrImagePull", m)
    }

    /// One message per runtime and class, as each writes it (containerd: `core/remotes/docker`
    /// and `internal/cri/server/images`; CRI-O: containers/image's `reading manifest %s in %s`
    /// and `pinging container registry`; Docker: the daemon's `Error response from daemon`),
    /// behind the kubelet's `rpc error: code = … desc = `.
    pub(crate) const WORDINGS: &[(&str, &str, PullProblem)] = &[
        (
            "containerd 1.x",
            r#"rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/x/trainer:0.9.9": failed to resolve reference "ghcr.io/x/trainer:0.9.9": ghcr.io/x/trainer:0.9.9: not found"#,
            PullProblem::NotFound,
        ),
        (
            "containerd 2.x (transfer service)",
            r#"rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/x/trainer:0.9.9": failed to resolve image: ghcr.io/x/trainer:0.9.9: not found"#,
            PullProblem::NotFound,
        ),
        (
            "containerd, Docker Hub",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/mlops-lab-inference:dev": failed to resolve reference "docker.io/library/mlops-lab-inference:dev": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#,
            PullProblem::DeniedOrMissing,
        ),
        (
            "containerd",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "ghcr.io/x/p:1": failed to resolve reference "ghcr.io/x/p:1": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Ax%2Fp%3Apull&service=ghcr.io: 401 Unauthorized"#,
            PullProblem::Unauthorized,
        ),
        (
            "containerd",
            r#"failed to do request: Head "https://registry.homelab:5000/v2/trainer/manifests/0.1.0": dial tcp: lookup registry.homelab on 10.43.0.10:53: no such host"#,
            PullProblem::Unreachable,
        ),
        (
            "containerd 1.x",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "registry.homelab/x:1": failed to resolve reference "registry.homelab/x:1": failed to do request: Head "https://registry.homelab/v2/x/manifests/1": x509: certificate signed by unknown authority"#,
            PullProblem::UntrustedCertificate,
        ),
        (
            "containerd 2.x",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "registry.homelab/x:1": failed to resolve image: failed to do request: Head "https://registry.homelab/v2/x/manifests/1": tls: failed to verify certificate: x509: certificate signed by unknown authority"#,
            PullProblem::UntrustedCertificate,
        ),
        (
            "containerd",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "registry.homelab:5000/x:1": failed to resolve reference "registry.homelab:5000/x:1": failed to do request: Head "https://registry.homelab:5000/v2/x/manifests/1": http: server gave HTTP response to HTTPS client"#,
            PullProblem::PlainHttpRegistry,
        ),
        (
            "containerd",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/x/inference:0.1.0": no match for platform in manifest: not found"#,
            PullProblem::Platform,
        ),
        (
            "containerd",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/nginx:1.27": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:0a1b: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."#,
            PullProblem::RateLimited,
        ),
        (
            "containerd",
            r#"rpc error: code = Unknown desc = failed to pull and unpack image "ghcr.io/x/inference:0.1.0": failed to extract layer sha256:0a1b: write /var/lib/rancher/k3s/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs/usr/lib/libc.so.6: no space left on device: unknown"#,
            PullProblem::NodeDiskFull,
        ),
        // containerd 2.4 behind kubelet 1.36 on the lab's node, pulling from the CNCF registry
        // (testbed/: the lab's pull-failure scenarios).
        (
            "containerd 2.4 (lab)",
            r#"rpc error: code = NotFound desc = failed to pull and unpack image "10.88.0.1:5443/lab/mlops-lab-inference:0.0.0-missing": failed to resolve image: 10.88.0.1:5443/lab/mlops-lab-inference:0.0.0-missing: not found"#,
            PullProblem::NotFound,
        ),
        (
            "containerd 2.4 (lab)",
            r#"rpc error: code = NotFound desc = get image config descriptor: no match for platform in manifest sha256:815bda216aba61bf87d6c927fe50c339631a395ab66ad99d1ce15a78e5b8d259: not found"#,
            PullProblem::Platform,
        ),
        (
            "containerd 2.4 (lab)",
            r#"failed to pull and unpack image "10.88.0.1:5443/lab/mlops-lab-inference:dev": failed to resolve image: unexpected status from HEAD request to https://10.88.0.1:5443/v2/lab/mlops-lab-inference/manifests/dev: 401 Unauthorized"#,
            PullProblem::Unauthorized,
        ),
        (
            "containerd 2.4 (lab)",
            r#"failed to pull and unpack image "10.88.0.1:5443/lab/mlops-lab-inference:dev": failed to resolve image: failed to do request: Head "https://10.88.0.1:5443/v2/lab/mlops-lab-inference/manifests/dev": tls: failed to verify certificate: x509: certificate signed by unknown authority"#,
            PullProblem::UntrustedCertificate,
        ),
        (
            "containerd 2.4 (lab)",
            r#"failed to pull and unpack image "10.88.0.1:5443/lab/mlops-lab-inference:dev": failed to resolve image: failed to do request: Head "https://10.88.0.1:5443/v2/lab/mlops-lab-inference/manifests/dev": http: server gave HTTP response to HTTPS client"#,
            PullProblem::PlainHttpRegistry,
        ),
        (
            "containerd 2.4 (lab)",
            r#"failed to pull and unpack image "10.88.0.1:5443/lab/mlops-lab-inference:dev": failed to resolve image: failed to do request: Head "https://10.88.0.1:5443/v2/lab/mlops-lab-inference/manifests/dev": dial tcp 10.88.0.1:5443: connect: connection refused"#,
            PullProblem::Unreachable,
        ),
        (
            "CRI-O",
            r#"rpc error: code = Unknown desc = reading manifest 0.9.9 in ghcr.io/x/inference: manifest unknown"#,
            PullProblem::NotFound,
        ),
        (
            "CRI-O, older containers/image",
            r#"rpc error: code = Unknown desc = Error reading manifest 0.9.9 in ghcr.io/x/inference: manifest unknown: manifest unknown"#,
            PullProblem::NotFound,
        ),
        (
            "CRI-O",
            r#"rpc error: code = Unknown desc = reading manifest 0.1.0 in ghcr.io/x/private: unauthorized: authentication required"#,
            PullProblem::Unauthorized,
        ),
        (
            "CRI-O",
            r#"rpc error: code = Unknown desc = pinging container registry registry.homelab:5000: Get "https://registry.homelab:5000/v2/": dial tcp: lookup registry.homelab: no such host"#,
            PullProblem::Unreachable,
        ),
        (
            "CRI-O",
            r#"rpc error: code = Unknown desc = pinging container registry registry.homelab: Get "https://registry.homelab/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority"#,
            PullProblem::UntrustedCertificate,
        ),
        (
            "CRI-O",
            r#"rpc error: code = Unknown desc = pinging container registry registry.homelab:5000: Get "https://registry.homelab:5000/v2/": http: server gave HTTP response to HTTPS client"#,
            PullProblem::PlainHttpRegistry,
        ),
        (
            "CRI-O",
            r#"rpc error: code = Unknown desc = choosing image instance: no image found in image index for architecture "arm64", variant "v8", OS "linux""#,
            PullProblem::Platform,
        ),
        (
            "CRI-O",
            r#"rpc error: code = Unknown desc = reading manifest latest in docker.io/library/nginx: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"#,
            PullProblem::RateLimited,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: manifest for ghcr.io/x/inference:0.9.9 not found: manifest unknown: manifest unknown"#,
            PullProblem::NotFound,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: pull access denied for mlops-lab-inference, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"#,
            PullProblem::DeniedOrMissing,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: Head "https://ghcr.io/v2/x/private/manifests/0.1.0": unauthorized"#,
            PullProblem::Unauthorized,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: Get "https://registry.homelab:5000/v2/": dial tcp: lookup registry.homelab on 192.168.1.2:53: no such host"#,
            PullProblem::Unreachable,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: Get "https://registry.homelab/v2/": x509: certificate signed by unknown authority"#,
            PullProblem::UntrustedCertificate,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: Get "https://registry.homelab:5000/v2/": http: server gave HTTP response to HTTPS client"#,
            PullProblem::PlainHttpRegistry,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: no matching manifest for linux/arm64/v8 in the manifest list entries"#,
            PullProblem::Platform,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"#,
            PullProblem::RateLimited,
        ),
        (
            "Docker",
            r#"rpc error: code = Unknown desc = failed to register layer: write /usr/lib/libc.so.6: no space left on device"#,
            PullProblem::NodeDiskFull,
        ),
    ];

    #[test]
    fn every_runtimes_wording_gets_its_class() {
        let wrong: Vec<String> = WORDINGS
            .iter()
            .filter(|(_, m, want)| c(m) != *want)
            .map(|(rt, m, want)| format!("{rt}: {m}\n  want {want:?}, got {:?}", c(m)))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn invalid_names_and_unknown_messages() {
        assert_eq!(
            PullProblem::classify(
                "InvalidImageName",
                r#"Failed to apply default image tag "ghcr.io/X/t": couldn't parse image name "ghcr.io/X/t": invalid reference format: repository name must be lowercase"#
            ),
            PullProblem::InvalidName
        );
        assert_eq!(c("something else"), PullProblem::Unknown);
    }
}
