//! Container images without Docker, one builder for two uses:
//!
//! - the lab's node: OCI image layouts (one uncompressed layer each) of the workspace's
//!   `trainer` and `inference`, of the kubelet's pause image and of local-path-provisioner's
//!   helper image, imported into the node's containerd with `ctr images import` under the
//!   names the manifests, the kubelet and the provisioner ask for. Any other image is pulled by
//!   containerd as usual, and fails as containerd makes pulls fail when no registry answers;
//! - `cargo lab images` (`publish.rs`): multi-architecture images of the same programs for a
//!   registry, one image index per program over a gzip-compressed manifest per platform.
//!
//! Both are reproducible: the same files and times give the same digests.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::process::run;

/// The user both workload images run as (distroless's `nonroot`, as the `Dockerfile` says).
pub const NONROOT: &str = "65532:65532";

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A Linux platform the workload images are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    Amd64,
    Arm64,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Amd64, Platform::Arm64];

    /// The machine's own, if it is one of these.
    pub fn host() -> Option<Platform> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Platform::Amd64),
            "aarch64" => Some(Platform::Arm64),
            _ => None,
        }
    }

    /// `linux/amd64` or `linux/arm64`, as `--platform` and OCI indexes name them.
    pub fn parse(s: &str) -> Result<Platform> {
        match s.trim() {
            "linux/amd64" | "amd64" => Ok(Platform::Amd64),
            "linux/arm64" | "arm64" | "linux/arm64/v8" => Ok(Platform::Arm64),
            other => bail!("unsupported platform {other:?} (linux/amd64 and linux/arm64 are)"),
        }
    }

    /// The architecture as OCI (and Go) name it.
    pub fn arch(self) -> &'static str {
        match self {
            Platform::Amd64 => "amd64",
            Platform::Arm64 => "arm64",
        }
    }

    /// The GNU triple: Debian's multiarch directory name and its cross tools' prefix.
    pub fn gnu(self) -> &'static str {
        match self {
            Platform::Amd64 => "x86_64-linux-gnu",
            Platform::Arm64 => "aarch64-linux-gnu",
        }
    }

    /// The Rust target.
    pub fn rust_target(self) -> &'static str {
        match self {
            Platform::Amd64 => "x86_64-unknown-linux-gnu",
            Platform::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Where this architecture's shared libraries are on this machine: Debian's multiarch
    /// directories (the host's own, or a multiarch install), then the cross toolchain's
    /// (`libc6-arm64-cross` ships `/usr/aarch64-linux-gnu/lib`).
    pub fn library_dirs(self) -> Vec<PathBuf> {
        let gnu = self.gnu();
        vec![
            PathBuf::from(format!("/lib/{gnu}")),
            PathBuf::from(format!("/usr/lib/{gnu}")),
            PathBuf::from(format!("/usr/{gnu}/lib")),
        ]
    }

    /// The Debian package that ships this architecture's glibc for a cross build.
    fn libc_package(self) -> &'static str {
        match self {
            Platform::Amd64 => "libc6-amd64-cross",
            Platform::Arm64 => "libc6-arm64-cross",
        }
    }
}

impl Default for Platform {
    fn default() -> Platform {
        Platform::host().unwrap_or(Platform::Amd64)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "linux/{}", self.arch())
    }
}

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
    pub platform: Platform,
    pub files: Vec<File>,
    /// (path, target) symbolic links.
    pub symlinks: Vec<(String, String)>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub exposed_ports: Vec<u16>,
    /// Modification time of every entry of the layer and the config's `created`, in seconds
    /// since the epoch (the commit's time for a release; 0, and no `created`, for the lab).
    pub mtime: u64,
    /// The manifest's annotations (`org.opencontainers.image.*`).
    pub annotations: BTreeMap<String, String>,
}

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: &'static str,
    pub data: Vec<u8>,
    pub digest: String,
}

impl Blob {
    fn new(media_type: &'static str, data: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: sha256(&data),
            data,
        }
    }

    /// Its OCI descriptor.
    fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// One platform's image as a registry stores it: manifest, config, layer.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub platform: Platform,
    pub manifest: Blob,
    pub config: Blob,
    pub layer: Blob,
}

/// One program's image index over its platforms' manifests.
#[derive(Debug, Clone)]
pub struct MultiArch {
    pub index: Blob,
    pub manifests: Vec<Manifest>,
}

impl MultiArch {
    /// Every blob, the index last (the order a registry accepts them in).
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.manifests
            .iter()
            .flat_map(|m| [&m.layer, &m.config, &m.manifest])
            .chain([&self.index])
    }
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

/// The workload programs, each with what the `Dockerfile` gives its stage (user, entrypoint,
/// env, exposed port).
pub const PROGRAMS: &[&str] = &["trainer", "inference"];

/// The image of one workload program (`trainer` or `inference`) built for `platform`, as the
/// `Dockerfile` describes it.
pub fn workload(program: &str, binary: &Path, platform: Platform) -> Result<Image> {
    let mut image = Image::program(program, binary, platform)?;
    match program {
        "trainer" => image.env = vec!["MODEL_DIR=/models".into()],
        "inference" => {
            image.env = vec![
                "MODEL_DIR=/models".into(),
                "LISTEN_ADDR=0.0.0.0:8080".into(),
                "LOG_FORMAT=json".into(),
            ];
            image.exposed_ports = vec![8080];
        }
        other => bail!("{other} is not a workload program ({PROGRAMS:?})"),
    }
    Ok(image)
}

impl Image {
    /// An image of one dynamically linked program built for `platform`: the binary at
    /// `/usr/local/bin/<name>` and the shared libraries it loads (glibc, libgcc: what
    /// distroless/cc carries), taken from that architecture's library directories.
    pub fn program(name: &str, binary: &Path, platform: Platform) -> Result<Image> {
        let target = format!("/usr/local/bin/{name}");
        let content =
            std::fs::read(binary).with_context(|| format!("read {}", binary.display()))?;
        let libraries = shared_libraries(&content, platform)
            .with_context(|| format!("the shared libraries of {}", binary.display()))?;
        let mut files = vec![File {
            path: target.clone(),
            content,
            mode: 0o755,
        }];
        for (path, source) in libraries {
            files.push(File {
                content: std::fs::read(&source)
                    .with_context(|| format!("read {}", source.display()))?,
                path,
                mode: 0o755,
            });
        }
        Ok(Image {
            platform,
            files,
            entrypoint: vec![target],
            user: Some(NONROOT.into()),
            ..Image::default()
        })
    }

    /// The layer: a tar of the files and links, sorted by path, with owner root and the
    /// image's time on every entry, so the same input gives the same digest.
    fn layer(&self) -> Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut dirs = BTreeSet::new();
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
            h.set_mtime(self.mtime);
            h
        };
        for dir in &dirs {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, format!("{}/", dir.display()), std::io::empty())?;
        }
        let mut files: Vec<&File> = self.files.iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        for file in files {
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
        let mut symlinks: Vec<&(String, String)> = self.symlinks.iter().collect();
        symlinks.sort();
        for (path, target) in symlinks {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut h, path.trim_start_matches('/'), target)?;
        }
        Ok(tar.into_inner()?)
    }

    /// The config, the manifest and the layer: uncompressed for containerd's import,
    /// gzip-compressed (as registries serve layers) for a registry.
    pub fn manifest(&self, compress: bool) -> Result<Manifest> {
        let tar = self.layer()?;
        let diff_id = sha256(&tar);
        let layer = if compress {
            Blob::new(LAYER_GZIP, gzip(&tar)?)
        } else {
            Blob::new(LAYER_TAR, tar)
        };
        let mut config = json!({
            "architecture": self.platform.arch(),
            "os": "linux",
            "config": {
                "Entrypoint": self.entrypoint,
                "Env": self.env,
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "mlops-lab testbed"}],
        });
        if self.mtime != 0 {
            let created = rfc3339(self.mtime);
            config["created"] = json!(created);
            config["history"][0]["created"] = json!(created);
        }
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
        let config = Blob::new(CONFIG, serde_json::to_vec(&config)?);
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
        });
        if !self.annotations.is_empty() {
            manifest["annotations"] = json!(self.annotations);
        }
        Ok(Manifest {
            platform: self.platform,
            manifest: Blob::new(MANIFEST, serde_json::to_vec(&manifest)?),
            config,
            layer,
        })
    }

    /// An OCI image layout, as a tar that `ctr images import` reads: the layer, the config,
    /// the manifest, and `index.json` naming the image.
    pub fn oci_archive(&self) -> Result<Vec<u8>> {
        let built = self.manifest(false)?;
        let mut descriptor = built.manifest.descriptor();
        descriptor["platform"] = json!({"architecture": self.platform.arch(), "os": "linux"});
        descriptor["annotations"] = json!({
            "io.containerd.image.name": self.name,
            "org.opencontainers.image.ref.name": self.name.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest"),
        });
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [descriptor],
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
        for blob in [&built.layer, &built.config, &built.manifest] {
            let hex = blob.digest.trim_start_matches("sha256:");
            add(format!("blobs/sha256/{hex}"), &blob.data)?;
        }
        Ok(tar.into_inner()?)
    }
}

/// One image index over the images of one program, one per platform (each compressed for a
/// registry); `annotations` go on the index too.
pub fn multi_arch(images: &[Image], annotations: &BTreeMap<String, String>) -> Result<MultiArch> {
    let manifests = images
        .iter()
        .map(|i| i.manifest(true))
        .collect::<Result<Vec<_>>>()?;
    Ok(MultiArch {
        index: index_of(&manifests, annotations)?,
        manifests,
    })
}

/// The image index listing `manifests`, each with its platform, with `annotations`.
pub fn index_of(manifests: &[Manifest], annotations: &BTreeMap<String, String>) -> Result<Blob> {
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": manifests.iter().map(|m| {
            let mut d = m.manifest.descriptor();
            d["platform"] = json!({"architecture": m.platform.arch(), "os": "linux"});
            d
        }).collect::<Vec<_>>(),
    });
    if !annotations.is_empty() {
        index["annotations"] = json!(annotations);
    }
    Ok(Blob::new(INDEX, serde_json::to_vec(&index)?))
}

/// Writes an OCI image layout directory holding `indexes` (reference name, index), replacing
/// a layout already there. Refuses a directory that has files but is not a layout.
pub fn write_layout(dir: &Path, indexes: &[(String, &MultiArch)]) -> Result<()> {
    if dir.exists() {
        let has_files = std::fs::read_dir(dir)?.next().is_some();
        if has_files && !dir.join("oci-layout").is_file() {
            bail!(
                "{} is not empty and not an OCI image layout: not replacing it",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("create {}", blobs.display()))?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut manifests = Vec::new();
    for (name, multi) in indexes {
        for blob in multi.blobs() {
            std::fs::write(
                blobs.join(blob.digest.trim_start_matches("sha256:")),
                &blob.data,
            )?;
        }
        let mut d = multi.index.descriptor();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        manifests.push(d);
    }
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&index)?)?;
    Ok(())
}

/// gzip with a fixed header (no name, time 0) at a fixed level: the same tar gives the same
/// bytes.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(6));
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

/// `2026-12-05T07:00:00Z` for seconds since the epoch.
fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

pub fn sha256(data: &[u8]) -> String {
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

/// What an ELF file asks of the dynamic loader: its interpreter (`PT_INTERP`, the loader's
/// path) and the libraries it needs (`DT_NEEDED`). Read from the file itself rather than by
/// running `ldd`, which cannot answer for another architecture.
fn elf_dependencies(data: &[u8]) -> Result<(Option<String>, Vec<String>)> {
    use object::read::elf::{Dyn, FileHeader, ProgramHeader};
    let header = object::elf::FileHeader64::<object::Endianness>::parse(data)
        .context("not a 64-bit ELF file")?;
    let endian = header.endian()?;
    let mut interpreter = None;
    for segment in header.program_headers(endian, data)? {
        if let Some(path) = segment.interpreter(endian, data)? {
            interpreter = Some(String::from_utf8_lossy(path).into_owned());
        }
    }
    let mut needed = Vec::new();
    let sections = header.sections(endian, data)?;
    if let Some((dynamic, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        for entry in dynamic {
            if entry.tag32(endian).map(i64::from) == Some(object::elf::DT_NEEDED) {
                needed.push(String::from_utf8_lossy(entry.string(endian, strings)?).into_owned());
            }
        }
    }
    Ok((interpreter, needed))
}

/// The files a dynamically linked binary loads, the dynamic loader included, each as (path in
/// the image, file on this machine): the loader at its `PT_INTERP` path, every library the
/// binary needs (and what those need) under `/lib/<multiarch>/`, where that architecture's
/// loader looks. A static binary needs none.
fn shared_libraries(binary: &[u8], platform: Platform) -> Result<Vec<(String, PathBuf)>> {
    let dirs = platform.library_dirs();
    let find = |name: &str| -> Result<PathBuf> {
        dirs.iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "{name} for {platform} is in none of {}: install {} (scripts/install-deps)",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if Some(platform) == Platform::host() {
                        "libc6"
                    } else {
                        platform.libc_package()
                    }
                )
            })
    };
    let (interpreter, mut queue) = elf_dependencies(binary)?;
    let mut files = BTreeMap::new();
    let loader_name = interpreter
        .as_deref()
        .and_then(|i| i.rsplit('/').next())
        .map(str::to_owned);
    if let (Some(path), Some(name)) = (&interpreter, &loader_name) {
        files.insert(path.clone(), find(name)?);
    }
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop() {
        // The loader is loaded already; libc naming it again finds it by its soname.
        if Some(&name) == loader_name.as_ref() || !seen.insert(name.clone()) {
            continue;
        }
        let source = find(&name)?;
        let data = std::fs::read(&source).with_context(|| format!("read {}", source.display()))?;
        queue.extend(elf_dependencies(&data)?.1);
        files.insert(format!("/lib/{}/{name}", platform.gnu()), source);
    }
    Ok(files.into_iter().collect())
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
    fn platforms_parse_as_docker_names_them() {
        assert_eq!(Platform::parse("linux/arm64").unwrap(), Platform::Arm64);
        assert_eq!(Platform::parse("linux/amd64").unwrap(), Platform::Amd64);
        let err = Platform::parse("linux/arm/v7").unwrap_err().to_string();
        assert!(err.contains("linux/arm/v7"), "{err}");
        assert_eq!(Platform::Arm64.to_string(), "linux/arm64");
    }

    /// The machine's own dynamically linked programs: their loader and libc come from the
    /// ELF file, at the paths the loader looks in (what `ldd` named before).
    #[test]
    fn a_host_binary_brings_its_loader_and_libc() {
        let Some(host) = Platform::host() else { return };
        let ls = std::fs::read("/bin/ls").unwrap();
        let (interpreter, needed) = elf_dependencies(&ls).unwrap();
        let interpreter = interpreter.expect("/bin/ls is dynamically linked");
        assert!(needed.contains(&"libc.so.6".to_owned()), "{needed:?}");
        let files = shared_libraries(&ls, host).unwrap();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&interpreter.as_str()), "{paths:?}");
        let libc = format!("/lib/{}/libc.so.6", host.gnu());
        assert!(paths.contains(&libc.as_str()), "{paths:?}");
        // The loader once, at its PT_INTERP path, not again under the library directory.
        let loader = interpreter.rsplit('/').next().unwrap();
        assert_eq!(paths.iter().filter(|p| p.ends_with(loader)).count(), 1);
    }

    #[test]
    fn a_static_binary_needs_no_library() {
        let busybox = Path::new("/bin/busybox");
        if !busybox.is_file() {
            return;
        }
        let data = std::fs::read(busybox).unwrap();
        assert!(
            shared_libraries(&data, Platform::default())
                .unwrap()
                .is_empty()
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
        let mut entries = BTreeMap::new();
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
        assert_eq!(m["platform"]["architecture"], go_arch());
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
        assert_eq!(manifest["layers"][0]["mediaType"], LAYER_TAR);
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            manifest["layers"][0]["digest"]
        );
        // The lab's images carry no time.
        assert!(config.get("created").is_none());
        let names: Vec<String> = tar::Archive::new(layer.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/", "a/b", "a/c"]);
    }

    fn release_image(platform: Platform, files: Vec<File>) -> Image {
        Image {
            platform,
            files,
            entrypoint: vec!["/usr/local/bin/p".into()],
            env: vec!["MODEL_DIR=/models".into()],
            user: Some(NONROOT.into()),
            mtime: 1_764_900_000,
            annotations: BTreeMap::from([(
                "org.opencontainers.image.revision".to_owned(),
                "abc".to_owned(),
            )]),
            ..Image::default()
        }
    }

    fn file(path: &str, content: &[u8]) -> File {
        File {
            path: path.into(),
            content: content.to_vec(),
            mode: 0o755,
        }
    }

    /// The same files in any order give the same bytes: entries sorted, times and owners
    /// fixed, gzip without a name or time.
    #[test]
    fn a_multi_arch_index_is_reproducible_and_lists_both_platforms() {
        let build = |files: Vec<File>| {
            let images: Vec<Image> = Platform::ALL
                .iter()
                .map(|p| release_image(*p, files.clone()))
                .collect();
            multi_arch(&images, &images[0].annotations).unwrap()
        };
        let a = build(vec![
            file("/usr/local/bin/p", b"x"),
            file("/lib/l.so", b"y"),
        ]);
        let b = build(vec![
            file("/lib/l.so", b"y"),
            file("/usr/local/bin/p", b"x"),
        ]);
        assert_eq!(a.index, b.index);
        let index: serde_json::Value = serde_json::from_slice(&a.index.data).unwrap();
        assert_eq!(index["mediaType"], INDEX);
        assert_eq!(
            index["annotations"]["org.opencontainers.image.revision"],
            "abc"
        );
        let platforms: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(platforms, ["amd64", "arm64"]);
        // Same files, different architecture: the configs differ, so do the manifests.
        assert_ne!(
            a.manifests[0].manifest.digest,
            a.manifests[1].manifest.digest
        );
        assert_eq!(a.manifests[0].layer.digest, a.manifests[1].layer.digest);

        let m = &a.manifests[1];
        let manifest: serde_json::Value = serde_json::from_slice(&m.manifest.data).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], LAYER_GZIP);
        assert_eq!(manifest["layers"][0]["digest"], m.layer.digest.as_str());
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.revision"],
            "abc"
        );
        let config: serde_json::Value = serde_json::from_slice(&m.config.data).unwrap();
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["config"]["User"], NONROOT);
        assert_eq!(config["config"]["Env"][0], "MODEL_DIR=/models");
        assert_eq!(config["created"], "2025-12-05T02:00:00Z");
        // The diff id is the uncompressed tar's digest; its entries are sorted, owned by
        // root and carry the image's time.
        let mut tar = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(m.layer.data.as_slice()),
            &mut tar,
        )
        .unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], sha256(&tar).as_str());
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "lib/",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "lib/l.so",
                "usr/local/bin/p"
            ]
        );
        assert!(
            entries
                .iter()
                .all(|(_, t, u)| *t == 1_764_900_000 && *u == 0)
        );
    }

    #[test]
    fn a_layout_names_each_index_and_holds_every_blob() {
        let dir = tempfile::tempdir().unwrap();
        let images: Vec<Image> = Platform::ALL
            .iter()
            .map(|p| release_image(*p, vec![file("/usr/local/bin/p", b"x")]))
            .collect();
        let multi = multi_arch(&images, &BTreeMap::new()).unwrap();
        let out = dir.path().join("oci");
        write_layout(&out, &[("p:1".into(), &multi)]).unwrap();
        // Writing again replaces the layout.
        write_layout(&out, &[("p:1".into(), &multi)]).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], multi.index.digest.as_str());
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "p:1"
        );
        for blob in multi.blobs() {
            let hex = blob.digest.trim_start_matches("sha256:");
            assert_eq!(
                std::fs::read(out.join("blobs/sha256").join(hex)).unwrap(),
                blob.data
            );
        }
        // A directory with other files in it is left alone.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("keep"), b"").unwrap();
        let err = write_layout(&other, &[]).unwrap_err().to_string();
        assert!(err.contains("not an OCI image layout"), "{err}");
        assert!(other.join("keep").is_file());
    }
}
