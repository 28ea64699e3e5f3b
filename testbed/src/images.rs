//! Container images without a registry: the lab writes OCI image layouts (one uncompressed
//! layer each) for the workspace's `trainer` and `inference`, for the kubelet's pause image and
//! for local-path-provisioner's helper image, and imports them into the node's containerd
//! under the names the manifests, the kubelet and the provisioner ask for. Any other image is
//! pulled by containerd as usual, and fails as containerd makes pulls fail when no registry
//! answers.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::process::run;

/// The user both workload images run as (distroless's `nonroot`, as the `Dockerfile` says).
pub const NONROOT: &str = "65532:65532";

/// One file of an image: its path in the image, its content, its mode.
#[derive(Debug, Clone)]
pub struct File {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

/// What goes into one image.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// The full reference containerd stores it under (`docker.io/library/x:tag`).
    pub name: String,
    pub files: Vec<File>,
    /// (path, target) symbolic links.
    pub symlinks: Vec<(String, String)>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub exposed_ports: Vec<u16>,
}

/// The reference containerd's CRI plugin looks up for an image name as a pod spec writes it:
/// Docker Hub's normalisation (`mlops-lab-inference:dev` →
/// `docker.io/library/mlops-lab-inference:dev`).
pub fn normalise(reference: &str) -> String {
    let (name, tag) = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (reference, "latest"),
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}:{tag}")
}

impl Image {
    /// An image of one dynamically linked program: the binary at `/usr/local/bin/<name>` and
    /// the shared libraries `ldd` says it loads (glibc, libgcc: what distroless/cc carries).
    pub fn program(name: &str, binary: &Path) -> Result<Image> {
        let target = format!("/usr/local/bin/{name}");
        let mut files = vec![File {
            path: target.clone(),
            content: std::fs::read(binary).with_context(|| format!("read {}", binary.display()))?,
            mode: 0o755,
        }];
        for library in shared_libraries(binary)? {
            files.push(File {
                content: std::fs::read(&library)
                    .with_context(|| format!("read {}", library.display()))?,
                path: library.display().to_string(),
                mode: 0o755,
            });
        }
        Ok(Image {
            files,
            entrypoint: vec![target],
            user: Some(NONROOT.into()),
            ..Image::default()
        })
    }

    /// The layer: a tar of the files and links with fixed owners and times, so the same input
    /// gives the same digest.
    fn layer(&self) -> Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut dirs = std::collections::BTreeSet::new();
        let paths = self
            .files
            .iter()
            .map(|f| f.path.as_str())
            .chain(self.symlinks.iter().map(|(p, _)| p.as_str()));
        for path in paths {
            let mut parent = Path::new(path.trim_start_matches('/')).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                dirs.insert(p.to_owned());
                parent = p.parent();
            }
        }
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h
        };
        for dir in &dirs {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, format!("{}/", dir.display()), std::io::empty())?;
        }
        for file in &self.files {
            let mut h = header(
                tar::EntryType::Regular,
                file.mode,
                file.content.len() as u64,
            );
            tar.append_data(
                &mut h,
                file.path.trim_start_matches('/'),
                file.content.as_slice(),
            )?;
        }
        for (path, target) in &self.symlinks {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut h, path.trim_start_matches('/'), target)?;
        }
        Ok(tar.into_inner()?)
    }

    /// An OCI image layout, as a tar that `ctr images import` reads: the layer, the config,
    /// the manifest, and `index.json` naming the image.
    pub fn oci_archive(&self) -> Result<Vec<u8>> {
        let layer = self.layer()?;
        let layer_digest = sha256(&layer);
        let mut config = json!({
            "architecture": go_arch(),
            "os": "linux",
            "config": {
                "Entrypoint": self.entrypoint,
                "Env": self.env,
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": "mlops-lab testbed"}],
        });
        if let Some(user) = &self.user {
            config["config"]["User"] = json!(user);
        }
        if !self.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, serde_json::Value> = self
                .exposed_ports
                .iter()
                .map(|p| (format!("{p}/tcp"), json!({})))
                .collect();
            config["config"]["ExposedPorts"] = json!(ports);
        }
        let config = serde_json::to_vec(&config)?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        }))?;
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(&manifest),
                "size": manifest.len(),
                "platform": {"architecture": go_arch(), "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": self.name,
                    "org.opencontainers.image.ref.name": self.name.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest"),
                },
            }],
        }))?;
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: String, data: &[u8]| -> Result<()> {
            let mut h = tar::Header::new_ustar();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(0);
            tar.append_data(&mut h, path, data)?;
            Ok(())
        };
        add(
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.as_slice(),
        )?;
        add("index.json".into(), &index)?;
        for blob in [&layer, &config, &manifest] {
            let digest = sha256(blob);
            let hex = digest.trim_start_matches("sha256:");
            add(format!("blobs/sha256/{hex}"), blob)?;
        }
        Ok(tar.into_inner()?)
    }
}

fn sha256(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The platform's architecture as OCI (and Go) name it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The shared libraries a dynamically linked binary loads, the dynamic loader included, as
/// absolute paths (`ldd`'s answer).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("run ldd (Debian's libc-bin)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(parse_ldd(&text))
}

/// The absolute paths in `ldd` output: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`
/// and the loader's `/lib64/ld-linux-x86-64.so.2 (0x…)`; the vDSO has no file.
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// The kubelet's pause image, built from the `pause.c` of the lab's Kubernetes module (what
/// `registry.k8s.io/pause` contains), compiled statically with the machine's C compiler.
pub fn pause(k8s_module: &Path, cache: &Path, tag: &str) -> Result<Image> {
    let source = k8s_module.join("build/pause/linux/pause.c");
    let binary = cache.join(format!("pause-{tag}"));
    if !binary.is_file() {
        std::fs::create_dir_all(cache)?;
        let tmp = cache.join(format!("pause-{tag}.tmp"));
        run(Command::new("gcc")
            .args(["-Os", "-static", "-Wall", "-Werror"])
            .arg(format!("-DVERSION=v{tag}"))
            .arg("-o")
            .arg(&tmp)
            .arg(&source))
        .with_context(|| format!("compile {} (gcc, libc6-dev)", source.display()))?;
        std::fs::rename(&tmp, &binary)?;
    }
    Ok(Image {
        name: format!("registry.k8s.io/pause:{tag}"),
        files: vec![File {
            path: "/pause".into(),
            content: std::fs::read(&binary)?,
            mode: 0o755,
        }],
        entrypoint: vec!["/pause".into()],
        user: Some("65535:65535".into()),
        ..Image::default()
    })
}

/// local-path-provisioner's helper image (`busybox`): its helper pods run the `setup` and
/// `teardown` shell scripts of its ConfigMap. Debian's static busybox and a link per applet.
pub fn busybox(name: &str) -> Result<Image> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        bail!("/bin/busybox is missing: run scripts/install-deps (apt-get install busybox-static)");
    }
    let list = run(Command::new(busybox).arg("--list"))?;
    let symlinks = list
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
        .map(|applet| (format!("/bin/{applet}"), "busybox".to_owned()))
        .collect();
    Ok(Image {
        name: name.to_owned(),
        files: vec![File {
            path: "/bin/busybox".into(),
            content: std::fs::read(busybox)?,
            mode: 0o755,
        }],
        symlinks,
        entrypoint: vec!["/bin/sh".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        ..Image::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_docker_hub() {
        assert_eq!(
            normalise("mlops-lab-inference:dev"),
            "docker.io/library/mlops-lab-inference:dev"
        );
        assert_eq!(
            normalise("rancher/mirrored-library-busybox:1.36.1"),
            "docker.io/rancher/mirrored-library-busybox:1.36.1"
        );
        assert_eq!(
            normalise("registry.k8s.io/pause:3.10.2"),
            "registry.k8s.io/pause:3.10.2"
        );
        assert_eq!(normalise("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalise("busybox"), "docker.io/library/busybox:latest");
    }

    #[test]
    fn ldd_output_gives_the_files_to_copy() {
        let text = "\tlinux-vdso.so.1 (0x00007ffc)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x1)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x2)\n\t/lib64/ld-linux-x86-64.so.2 (0x3)\n";
        assert_eq!(
            parse_ldd(text),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn an_archive_is_a_layout_whose_digests_match() {
        let image = Image {
            name: "docker.io/library/t:1".into(),
            files: vec![File {
                path: "/a/b".into(),
                content: b"hi".to_vec(),
                mode: 0o644,
            }],
            symlinks: vec![("/a/c".into(), "b".into())],
            entrypoint: vec!["/a/b".into()],
            ..Image::default()
        };
        let archive = image.oci_archive().unwrap();
        assert_eq!(archive, image.oci_archive().unwrap(), "not reproducible");
        let mut entries = std::collections::BTreeMap::new();
        for entry in tar::Archive::new(archive.as_slice()).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            entries.insert(path, data);
        }
        let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
        let m = &index["manifests"][0];
        assert_eq!(
            m["annotations"]["io.containerd.image.name"],
            "docker.io/library/t:1"
        );
        let blob = |d: &serde_json::Value| {
            let hex = d.as_str().unwrap().trim_start_matches("sha256:");
            let data = &entries[&format!("blobs/sha256/{hex}")];
            assert_eq!(sha256(data), d.as_str().unwrap());
            data.clone()
        };
        let manifest: serde_json::Value = serde_json::from_slice(&blob(&m["digest"])).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&blob(&manifest["config"]["digest"])).unwrap();
        let layer = blob(&manifest["layers"][0]["digest"]);
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            manifest["layers"][0]["digest"]
        );
        let names: Vec<String> = tar::Archive::new(layer.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/", "a/b", "a/c"]);
    }
}
