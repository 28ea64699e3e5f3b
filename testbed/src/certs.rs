//! Keys and certificates for the lab's control plane, made with openssl.
//!
//! One CA signs the API server's serving certificate and the client certificates: `lab-admin`
//! (group `system:masters`, used by the lab itself and the controllers) and `labctl` (no
//! group: it gets only what the shipped read-only ClusterRole grants, so the lab proves that
//! RBAC is enough).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::process::run;

#[derive(Debug, Clone)]
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates every key and certificate in `dir` (once: kept across restarts of the lab).
    pub fn create(dir: &Path) -> Result<Certs> {
        std::fs::create_dir_all(dir)?;
        let certs = Certs {
            dir: dir.to_owned(),
        };
        // The kubelet's certificate came later than the others: a lab directory made before
        // it gets just that one.
        if certs.file("labctl.crt").exists() {
            if !certs.file("node.crt").exists() {
                certs.sign_node()?;
            }
            return Ok(certs);
        }
        let f = |name: &str| certs.file(name).to_string_lossy().into_owned();
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            ])
            .args([
                "-keyout",
                &f("ca.key"),
                "-out",
                &f("ca.crt"),
                "-subj",
                "/CN=mlops-lab-ca",
            ]))?;
        let sign = |name: &str, subject: &str, ext: &str| -> Result<()> {
            let ext_file = certs.file(&format!("{name}.ext"));
            std::fs::write(&ext_file, ext)?;
            run(Command::new("openssl")
                .args(["req", "-newkey", "rsa:2048", "-nodes"])
                .args([
                    "-keyout",
                    &f(&format!("{name}.key")),
                    "-out",
                    &f(&format!("{name}.csr")),
                    "-subj",
                    subject,
                ]))?;
            run(Command::new("openssl")
                .args(["x509", "-req", "-days", "3650", "-CAcreateserial"])
                .args([
                    "-in",
                    &f(&format!("{name}.csr")),
                    "-CA",
                    &f("ca.crt"),
                    "-CAkey",
                    &f("ca.key"),
                    "-out",
                    &f(&format!("{name}.crt")),
                    "-extfile",
                    &ext_file.to_string_lossy(),
                ]))?;
            Ok(())
        };
        sign(
            "apiserver",
            "/CN=kube-apiserver",
            "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n\
             extendedKeyUsage=serverAuth\n",
        )?;
        sign(
            "admin",
            "/O=system:masters/CN=lab-admin",
            "extendedKeyUsage=clientAuth\n",
        )?;
        sign("labctl", "/CN=labctl", "extendedKeyUsage=clientAuth\n")?;
        certs.sign_node()?;
        run(Command::new("openssl").args(["genrsa", "-out", &f("sa.key"), "2048"]))?;
        run(Command::new("openssl").args([
            "rsa",
            "-in",
            &f("sa.key"),
            "-pubout",
            "-out",
            &f("sa.pub"),
        ]))?;
        Ok(certs)
    }
}

impl Certs {
    /// A serving certificate for the lab's registry at `ip` (`registry.crt`, `registry.key`),
    /// made once: its subject alternative name is the address containerd and labctl dial.
    pub fn registry(&self, ip: &str) -> Result<(PathBuf, PathBuf)> {
        let (crt, key) = (self.file("registry.crt"), self.file("registry.key"));
        if crt.exists() && key.exists() {
            return Ok((crt, key));
        }
        let f = |name: &str| self.file(name).to_string_lossy().into_owned();
        std::fs::write(
            self.file("registry.ext"),
            format!("subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n"),
        )?;
        run(Command::new("openssl")
            .args(["req", "-newkey", "rsa:2048", "-nodes"])
            .args(["-keyout", &f("registry.key"), "-out", &f("registry.csr")])
            .args(["-subj", "/CN=mlops-lab-registry"]))?;
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "3650", "-CAcreateserial"])
            .args(["-in", &f("registry.csr"), "-CA", &f("ca.crt")])
            .args(["-CAkey", &f("ca.key"), "-out", &f("registry.crt")])
            .args(["-extfile", &f("registry.ext")]))?;
        Ok((crt, key))
    }

    /// The real node's kubelet credentials: `system:node:<name>` in group `system:nodes`, what
    /// the API server's Node authorizer grants a kubelet.
    fn sign_node(&self) -> Result<()> {
        let f = |name: &str| self.file(name).to_string_lossy().into_owned();
        let subject = format!("/O=system:nodes/CN=system:node:{}", crate::topology::NODE);
        std::fs::write(self.file("node.ext"), "extendedKeyUsage=clientAuth\n")?;
        run(Command::new("openssl")
            .args(["req", "-newkey", "rsa:2048", "-nodes"])
            .args([
                "-keyout",
                &f("node.key"),
                "-out",
                &f("node.csr"),
                "-subj",
                &subject,
            ]))?;
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "3650", "-CAcreateserial"])
            .args([
                "-in",
                &f("node.csr"),
                "-CA",
                &f("ca.crt"),
                "-CAkey",
                &f("ca.key"),
            ])
            .args(["-out", &f("node.crt"), "-extfile", &f("node.ext")]))?;
        Ok(())
    }
}
