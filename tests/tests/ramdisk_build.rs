//! `ramdisk/build --with-ssacli`: HPE's ssacli is not redistributable, so the operator hands
//! the build their own package, `.deb` or `.rpm`, and its binary must end up as
//! `/usr/sbin/ssacli` in the image. Fake packages carry a real ELF (our simulator) where
//! HPE's packages put theirs.

use agent_tests::agent::repo_root;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The payload HPE's packages install: `/opt/smartstorageadmin/ssacli/bin/ssacli`.
fn payload(dir: &Path) -> PathBuf {
    let bin = dir.join("opt/smartstorageadmin/ssacli/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_ssacli"), bin.join("ssacli")).unwrap();
    dir.to_path_buf()
}

fn fake_deb(work: &Path) -> PathBuf {
    let root = payload(&work.join("deb-root"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: ssacli\nVersion: 6.45-8.0\nArchitecture: amd64\nMaintainer: test\nDescription: fake ssacli for tests\n",
    )
    .unwrap();
    let deb = work.join("ssacli-6.45-8.0_amd64.deb");
    run(
        Command::new("dpkg-deb").arg("--build").arg(&root).arg(&deb),
        "dpkg-deb --build",
    );
    deb
}

fn fake_rpm(work: &Path) -> PathBuf {
    if Command::new("rpmbuild").arg("--version").output().is_err() {
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "rpm"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        // A fresh machine may have no package lists yet.
        if !install() {
            run(
                Command::new("apt-get").args(["update", "-qq"]),
                "apt-get update",
            );
            assert!(install(), "apt-get install rpm failed");
        }
    }
    let src = payload(&work.join("rpm-payload"));
    let top = work.join("rpmbuild");
    let spec = work.join("ssacli.spec");
    std::fs::write(
        &spec,
        format!(
            "Name: ssacli\nVersion: 6.45\nRelease: 8\nSummary: fake ssacli for tests\nLicense: none\n\
             %%description\nfake\n%%install\nmkdir -p %{{buildroot}}/opt/smartstorageadmin/ssacli/bin\n\
             cp {src}/opt/smartstorageadmin/ssacli/bin/ssacli %{{buildroot}}/opt/smartstorageadmin/ssacli/bin/\n\
             %%files\n/opt/smartstorageadmin/ssacli/bin/ssacli\n",
            src = src.display()
        ),
    )
    .unwrap();
    run(
        Command::new("rpmbuild")
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args([
                "--define",
                "__strip /bin/true",
                "--define",
                "debug_package %{nil}",
            ])
            .arg(&spec),
        "rpmbuild",
    );
    let rpms = top.join("RPMS/x86_64");
    let rpm = std::fs::read_dir(&rpms)
        .unwrap()
        .next()
        .expect("an rpm was built")
        .unwrap()
        .path();
    assert!(
        rpm.extension().is_some_and(|e| e == "rpm"),
        "{}",
        rpm.display()
    );
    rpm
}

/// Builds a ramdisk with `--with-ssacli pkg` into `out` and returns the archive listing.
fn build_with(pkg: &Path, cache: &Path, out: &Path, agent: &Path) -> (String, String) {
    run(
        Command::new(repo_root().join("ramdisk/build"))
            .arg("--no-install")
            .arg("--out")
            .arg(out)
            .arg("--cache")
            .arg(cache)
            .arg("--agent")
            .arg(agent)
            .args(["--compress", "none", "--with-ssacli"])
            .arg(pkg),
        "ramdisk/build --with-ssacli",
    );
    let listing = run(
        Command::new("cpio")
            .args(["-it", "--quiet", "-F"])
            .arg(out.join("ironic-agent.initramfs")),
        "cpio -it",
    );
    let manifest = std::fs::read_to_string(out.join("ironic-agent.manifest.txt")).unwrap();
    (listing, manifest)
}

#[test]
fn with_ssacli_takes_the_binary_from_a_deb_and_an_rpm() {
    // The default image: installs the build's tools, fills the package cache and builds the
    // static agent, which this test reuses.
    let _ = agent_tests::qemu::ramdisk();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let agent = target.join("x86_64-unknown-linux-musl/release/ironic-agent");
    assert!(agent.exists(), "{} missing", agent.display());
    let work = tempfile::tempdir().unwrap();
    // A private cache (hard links to the downloaded packages): no downloads, and no clash
    // with the shared cache's scratch space while other tests build.
    let cache = work.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    run(
        Command::new("cp")
            .arg("-al")
            .arg(repo_root().join("target/ramdisk-cache/debs"))
            .arg(cache.join("debs")),
        "linking the package cache",
    );
    for (kind, pkg) in [
        ("deb", fake_deb(work.path())),
        ("rpm", fake_rpm(work.path())),
    ] {
        let out = work.path().join(format!("out-{kind}"));
        let (listing, manifest) = build_with(&pkg, &cache, &out, &agent);
        assert!(
            listing.lines().any(|l| l == "usr/sbin/ssacli"),
            "{kind}: no usr/sbin/ssacli in:\n{listing}"
        );
        assert!(
            manifest.contains("ssacli"),
            "{kind}: the manifest records ssacli:\n{manifest}"
        );
    }
}
