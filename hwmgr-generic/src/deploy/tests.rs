//! `write_image` end to end on a fake machine: a real HTTP server on loopback, the disks as
//! sparse files under the fake root, the tools recorded.

use super::*;
use crate::Machine;
use hwmgr::Host;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use testkit::fake_machine::FakeMachine;
use testkit::RecordingRunner;

const GIB: u64 = 1 << 30;

/// What the test server answers for a path.
#[derive(Clone)]
enum Reply {
    Body(Vec<u8>),
    Status(u16),
    /// No Content-Length: the body ends when the connection closes.
    Unsized(Vec<u8>),
    /// Headers announcing the full length, then `sent` bytes, then silence.
    Stall {
        body: Vec<u8>,
        sent: usize,
    },
}

struct Server {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(routes: Vec<(&'static str, Reply)>) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(Mutex::new(Vec::new()));
    let h2 = hits.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let routes = routes.clone();
            let hits = h2.clone();
            std::thread::spawn(move || {
                let mut s = conn;
                let mut req = Vec::new();
                let mut b = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    req.push(b[0]);
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                hits.lock().unwrap().push(path.clone());
                let reply = routes
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, r)| r.clone());
                let head = |code: u16, len: usize| {
                    format!("HTTP/1.1 {code} X\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
                };
                let _ = match reply {
                    Some(Reply::Body(b)) => s
                        .write_all(head(200, b.len()).as_bytes())
                        .and_then(|_| s.write_all(&b)),
                    Some(Reply::Unsized(b)) => s
                        .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                        .and_then(|_| s.write_all(&b)),
                    Some(Reply::Status(c)) => s
                        .write_all(head(c, 4).as_bytes())
                        .and_then(|_| s.write_all(b"nope")),
                    Some(Reply::Stall { body, sent }) => {
                        let r = s
                            .write_all(head(200, body.len()).as_bytes())
                            .and_then(|_| s.write_all(&body[..sent]));
                        std::thread::sleep(Duration::from_secs(5));
                        r
                    }
                    None => s
                        .write_all(head(404, 4).as_bytes())
                        .and_then(|_| s.write_all(b"none")),
                };
            });
        }
    });
    Server { port, hits }
}

/// A scratch directory in memory when possible: the deploy fsyncs its disks, which on a
/// busy host file system costs seconds per call.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

struct Bed {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    runner: Arc<RecordingRunner>,
    deployer: Deployer,
}

/// A machine with virtio disks `(name, size, serial)`, each backed by a sparse file at
/// `<root>/dev/<name>`.
fn bed(disks: &[(&str, u64, &str)], settings: DeploySettings) -> Bed {
    let dir = scratch();
    let mut fm = FakeMachine::new(dir.path());
    for (name, size, serial) in disks {
        fm = fm.virtio(name, *size).serial(serial);
        let dev = dir.path().join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::File::create(dev.join(name))
            .unwrap()
            .set_len(*size)
            .unwrap();
    }
    let root = dir.path().to_path_buf();
    let runner = Arc::new(RecordingRunner::new());
    let m = Machine::new(Host::new(&root), runner.clone());
    Bed {
        _dir: dir,
        root,
        runner,
        deployer: Deployer::new(m, SharedSettings::new(settings)),
    }
}

fn settings() -> DeploySettings {
    DeploySettings {
        connection_retries: 0,
        retry_interval: Duration::from_millis(10),
        connection_timeout: Duration::from_secs(2),
        ..DeploySettings::default()
    }
}

fn sha256(b: &[u8]) -> String {
    let mut h = checksum::Algo::Sha256.hasher();
    h.update(b);
    h.hexdigest()
}

/// A 4 MiB GPT whole-disk image with an ESP (its backup GPT at the image's end).
fn gpt_image() -> Vec<u8> {
    let mut d = partitions::tests::gpt_disk(8192, 6000);
    d[2048 * 512..2048 * 512 + 11].copy_from_slice(b"ESP CONTENT");
    d
}

fn call(image_info: Value, node: Value) -> StepCall {
    let mut args = Map::new();
    args.insert("image_info".into(), image_info);
    args.insert("configdrive".into(), Value::Null);
    StepCall::new(hwmgr::StepKind::Deploy, node, json!([]), args)
}

fn info(urls: &[String], sum: &str) -> Value {
    json!({"id": "disk.img", "urls": urls, "disk_format": null, "stream_raw_images": true,
           "os_hash_algo": "sha256", "os_hash_value": sum, "node_uuid": "n-1"})
}

/// The first 32 MiB of a disk (the images here are smaller).
fn disk(b: &Bed, name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(b.root.join("dev").join(name))
        .unwrap()
        .take(32 << 20)
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// Whether the first and the last MiB of a disk are zeros (no MBR, no GPT).
fn ends_are_zero(b: &Bed, name: &str) -> bool {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(b.root.join("dev").join(name)).unwrap();
    let size = f.metadata().unwrap().len();
    let mut head = vec![0u8; 1 << 20];
    let mut tail = vec![0u8; 1 << 20];
    f.read_exact_at(&mut head, 0).unwrap();
    f.read_exact_at(&mut tail, size - (1 << 20)).unwrap();
    head.iter().chain(tail.iter()).all(|&x| x == 0)
}

#[test]
fn a_raw_gpt_image_is_written_verified_and_reported() {
    let img = gpt_image();
    let srv = serve(vec![("/disk.img", Reply::Body(img.clone()))]);
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    assert_eq!(b.deployer.get_partition_uuids(), json!({}));
    let r = b
        .deployer
        .write_image(&call(
            info(&[srv.url("/disk.img")], &sha256(&img)),
            json!({}),
        ))
        .unwrap();
    assert_eq!(
        r,
        json!({"result": "prepare_image: image (disk.img) written to device /dev/vda root_uuid=0x00000000"})
    );
    let d = disk(&b, "vda");
    assert_eq!(&d[..img.len()], &img[..]);
    assert_eq!(
        b.deployer.get_partition_uuids(),
        json!({"root uuid": "0x00000000"})
    );
    // The same image again (a retried step): not downloaded a second time, as IPA.
    b.deployer
        .write_image(&call(
            info(&[srv.url("/disk.img")], &sha256(&img)),
            json!({}),
        ))
        .unwrap();
    assert_eq!(srv.hits.lock().unwrap().len(), 1);
    let lines = b.runner.lines().join("\n");
    assert!(
        lines.contains(&format!("sgdisk -e {}", b.root.join("dev/vda").display())),
        "{lines}"
    );
    assert!(lines.contains("blockdev --rereadpt"), "{lines}");
}

#[test]
fn a_wrong_checksum_fails_with_ipas_message_and_wipes_the_disk() {
    let img = gpt_image();
    let srv = serve(vec![("/disk.img", Reply::Body(img.clone()))]);
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let wrong = sha256(b"something else");
    let e = b
        .deployer
        .write_image(&call(info(&[srv.url("/disk.img")], &wrong), json!({})))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ImageChecksumError);
    for part in [
        "Image failed to verify against checksum.".to_string(),
        format!("location: {}", srv.url("/disk.img")),
        format!("image checksum: {wrong}"),
        format!("verification checksum: {}", sha256(&img)),
        "were wiped".to_string(),
    ] {
        assert!(
            e.details.contains(&part),
            "{part:?} missing in {}",
            e.details
        );
    }
    assert!(
        ends_are_zero(&b, "vda"),
        "the partition tables must be gone"
    );
    assert_eq!(b.deployer.get_partition_uuids(), json!({}));
}

#[test]
fn urls_are_tried_in_turn_and_a_4xx_stops() {
    let img = gpt_image();
    let srv = serve(vec![
        ("/down", Reply::Status(503)),
        ("/disk.img", Reply::Body(img.clone())),
        ("/gone", Reply::Status(404)),
    ]);
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let urls = [srv.url("/down"), srv.url("/disk.img")];
    b.deployer
        .write_image(&call(info(&urls, &sha256(&img)), json!({})))
        .unwrap();

    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let urls = [srv.url("/gone"), srv.url("/disk.img")];
    let e = b
        .deployer
        .write_image(&call(info(&urls, &sha256(&img)), json!({})))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ImageDownloadError);
    assert!(
        e.details.contains("Received status code 404"),
        "{}",
        e.details
    );
    assert_eq!(
        srv.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == "/disk.img")
            .count(),
        1,
        "no next URL after a 4xx"
    );

    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let urls = [
        srv.url("/down"),
        format!("http://127.0.0.1:{}/x", crate::deploy::tests::closed_port()),
    ];
    let e = b
        .deployer
        .write_image(&call(info(&urls, &sha256(&img)), json!({})))
        .unwrap_err();
    assert!(
        e.details.contains("503") && e.details.contains("cannot reach"),
        "every URL named: {}",
        e.details
    );
}

pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn connection_retries_retry_5xx() {
    static N: AtomicUsize = AtomicUsize::new(0);
    let srv = serve(vec![("/down", Reply::Status(500))]);
    let b = bed(
        &[("vda", 5 * GIB, "D0")],
        DeploySettings {
            connection_retries: 2,
            ..settings()
        },
    );
    let e = b
        .deployer
        .write_image(&call(info(&[srv.url("/down")], &sha256(b"x")), json!({})))
        .unwrap_err();
    N.store(srv.hits.lock().unwrap().len(), Ordering::SeqCst);
    // 3 connection attempts per download attempt, 3 download attempts
    assert_eq!(N.load(Ordering::SeqCst), 9, "{}", e.details);
}

#[test]
fn a_stalled_server_times_out_and_the_disk_is_wiped() {
    let img = gpt_image();
    let srv = serve(vec![(
        "/slow",
        Reply::Stall {
            body: img.clone(),
            sent: 3 << 20,
        },
    )]);
    let b = bed(
        &[("vda", 5 * GIB, "D0")],
        DeploySettings {
            connection_timeout: Duration::from_secs(1),
            ..settings()
        },
    );
    let e = b
        .deployer
        .write_image(&call(info(&[srv.url("/slow")], &sha256(&img)), json!({})))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ImageDownloadError);
    assert!(
        e.details.contains("Timed out reading next chunk") || e.details.contains("timed out"),
        "{}",
        e.details
    );
    assert!(ends_are_zero(&b, "vda"));
}

/// A 3 MiB image against the chosen disk, made a 2 MiB file behind the manager's back.
fn deploy_onto_a_small_disk(reply: Reply, img: &[u8]) -> (Bed, AgentError) {
    let srv = serve(vec![("/big", reply)]);
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    std::fs::write(b.root.join("dev/vda"), vec![0x11u8; 2 << 20]).unwrap();
    let e = b
        .deployer
        .write_image(&call(info(&[srv.url("/big")], &sha256(img)), json!({})))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ImageWriteError);
    (b, e)
}

#[test]
fn an_image_larger_than_the_disk_is_refused_before_writing_or_stopped_at_its_end() {
    let mut img = gpt_image();
    img.resize(3 << 20, 0x5a);
    // Content-Length known: refused before anything is written.
    let (b, e) = deploy_onto_a_small_disk(Reply::Body(img.clone()), &img);
    assert!(e.details.contains("nothing was written"), "{}", e.details);
    assert!(
        disk(&b, "vda").iter().all(|&x| x == 0x11),
        "the disk is untouched"
    );
    // No Content-Length: written up to the disk's end, then stopped and wiped.
    let (b, e) = deploy_onto_a_small_disk(Reply::Unsized(img.clone()), &img);
    for part in [
        "Writing image disk.img to /dev/vda stopped",
        "past the end of the disk (2097152 bytes)",
        "were wiped",
    ] {
        assert!(
            e.details.contains(part),
            "{part:?} missing in {}",
            e.details
        );
    }
    assert_eq!(
        disk(&b, "vda").len(),
        2 << 20,
        "nothing written past the end"
    );
    assert!(
        ends_are_zero(&b, "vda"),
        "the written part's tables are gone"
    );
}

#[test]
fn a_qcow2_larger_than_the_disk_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("big.qcow2");
    let st = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&q)
        .arg("6G")
        .status()
        .expect("qemu-img (qemu-utils) is needed");
    assert!(st.success());
    let qbytes = std::fs::read(&q).unwrap();
    let srv = serve(vec![("/big.qcow2", Reply::Unsized(qbytes.clone()))]);
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let e = b
        .deployer
        .write_image(&call(
            info(&[srv.url("/big.qcow2")], &sha256(&qbytes)),
            json!({}),
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ImageWriteError);
    assert!(
        e.details.contains(&format!("needs {} bytes", 6 * GIB))
            && e.details.contains("nothing was written"),
        "{}",
        e.details
    );
    assert!(
        disk(&b, "vda").iter().all(|&x| x == 0),
        "the disk is untouched"
    );
}

#[test]
fn an_unknown_disk_format_is_refused_before_writing() {
    let img = gpt_image();
    let srv = serve(vec![("/disk.vmdk", Reply::Body(img.clone()))]);
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let dev = b.root.join("dev/vda");
    std::fs::write(&dev, vec![0x11u8; 4 << 20]).unwrap();
    let mut i = info(&[srv.url("/disk.vmdk")], &sha256(&img));
    i["disk_format"] = json!("vmdk");
    let e = b.deployer.write_image(&call(i, json!({}))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImage);
    assert!(
        e.details.contains("Image format vmdk is not supported"),
        "{}",
        e.details
    );
    assert!(
        std::fs::read(&dev).unwrap().iter().all(|&x| x == 0x11),
        "the disk is untouched"
    );
}

#[test]
fn hints_put_the_image_on_the_hinted_disk_only() {
    let img = gpt_image();
    let srv = serve(vec![("/disk.img", Reply::Body(img.clone()))]);
    let b = bed(
        &[
            ("vda", 5 * GIB, "D0"),
            ("vdb", 6 * GIB, "D1"),
            ("vdc", 5 * GIB, "D2"),
        ],
        settings(),
    );
    let node = json!({"properties": {"root_device": {"serial": "D1"}}});
    let r = b
        .deployer
        .write_image(&call(info(&[srv.url("/disk.img")], &sha256(&img)), node))
        .unwrap();
    assert!(r["result"].as_str().unwrap().contains("/dev/vdb"));
    assert_eq!(&disk(&b, "vdb")[..img.len()], &img[..]);
    for other in ["vda", "vdc"] {
        assert!(
            disk(&b, other)[..1 << 20].iter().all(|&x| x == 0),
            "{other} must be untouched"
        );
    }
    let e = b
        .deployer
        .write_image(&call(
            info(&[srv.url("/disk.img")], &sha256(&img)),
            json!({"properties": {"root_device": {"serial": "NOPE"}}}),
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::DeviceNotFound);
    assert!(
        e.details.contains(r#"{"serial":"NOPE"}"#)
            && e.details.contains("/dev/vda (5.0 GiB, serial D0)")
            && e.details.contains("/dev/vdb (6.0 GiB, serial D1)"),
        "{}",
        e.details
    );
}

#[test]
fn a_qcow2_image_is_decoded_onto_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("d.raw");
    let img = gpt_image();
    std::fs::write(&raw, &img).unwrap();
    let q = dir.path().join("d.qcow2");
    let st = std::process::Command::new("qemu-img")
        .args(["convert", "-c", "-O", "qcow2"])
        .arg(&raw)
        .arg(&q)
        .status()
        .expect("qemu-img (qemu-utils) is needed");
    assert!(st.success());
    let qbytes = std::fs::read(&q).unwrap();
    let srv = serve(vec![("/d.qcow2", Reply::Body(qbytes.clone()))]);
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let dev = b.root.join("dev/vda");
    std::fs::write(&dev, vec![0x77u8; 32 << 20]).unwrap(); // old data everywhere
    let mut i = info(&[srv.url("/d.qcow2")], &sha256(&qbytes));
    i["id"] = json!("d.qcow2");
    i["disk_format"] = json!("qcow2");
    b.deployer.write_image(&call(i, json!({}))).unwrap();
    let d = disk(&b, "vda");
    assert_eq!(
        &d[..img.len()],
        &img[..],
        "unallocated clusters must read as zeros, not old data"
    );
}

mod partition_image_tests;

#[test]
fn partition_images_and_bad_params_are_refused_before_the_disk_is_touched() {
    let b = bed(&[("vda", 5 * GIB, "D0")], settings());
    let mut i = info(&["http://127.0.0.1:1/x".into()], &sha256(b"x"));
    i["image_type"] = json!("partition");
    // Without root_mb (IPA would crash on the missing key).
    let e = b.deployer.write_image(&call(i, json!({}))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
    assert!(e.details.contains("'root_mb' is required"), "{}", e.details);
    let e = b
        .deployer
        .write_image(&call(json!({"id": "x"}), json!({})))
        .unwrap_err();
    assert_eq!(
        (e.kind, e.details.as_str()),
        (
            ErrorKind::InvalidCommandParamsError,
            "Image is missing 'urls' field."
        )
    );
    let e = b.deployer.write_image(&StepCall::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
    assert!(b.runner.lines().is_empty());
}

#[test]
fn an_existing_config_2_partition_receives_the_config_drive() {
    use base64::Engine;
    let img = gpt_image();
    let srv = serve(vec![("/disk.img", Reply::Body(img.clone()))]);
    let dir = scratch();
    let fm = FakeMachine::new(dir.path())
        .virtio("vda", 5 * GIB)
        .serial("D0")
        .partition("vda", "vda1", 1 << 20, 8 << 20)
        .partition("vda", "vda2", 9 << 20, 64 << 20);
    drop(fm);
    let devdir = dir.path().join("dev");
    std::fs::create_dir_all(&devdir).unwrap();
    std::fs::File::create(devdir.join("vda"))
        .unwrap()
        .set_len(5 * GIB)
        .unwrap();
    std::fs::File::create(devdir.join("vda1"))
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    std::fs::File::create(devdir.join("vda2"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let runner = Arc::new(RecordingRunner::new());
    runner.on(
        &[
            "blkid",
            "-p",
            "-o",
            "export",
            &devdir.join("vda2").to_string_lossy(),
        ],
        "DEVNAME=/dev/vda2\nLABEL=config-2\nTYPE=iso9660\n",
    );
    let d = Deployer::new(
        Machine::new(Host::new(dir.path()), runner.clone()),
        SharedSettings::new(settings()),
    );
    let mut iso = vec![0u8; 40000];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&iso).unwrap();
    let cd = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let mut c = call(info(&[srv.url("/disk.img")], &sha256(&img)), json!({}));
    c.args.insert("configdrive".into(), json!(cd));
    d.write_image(&c).unwrap();
    let part = std::fs::read(devdir.join("vda2")).unwrap();
    assert_eq!(&part[..iso.len()], &iso[..]);
}

#[test]
fn install_bootloader_registers_the_esp_loader_in_nvram_like_ipa() {
    let dir = scratch();
    let _fm = FakeMachine::new(dir.path())
        .uefi()
        .virtio("vda", 5 * GIB)
        .serial("D0")
        .partition("vda", "vda1", 1 << 20, 2 << 20);
    let devdir = dir.path().join("dev");
    std::fs::create_dir_all(&devdir).unwrap();
    std::fs::write(devdir.join("vda"), gpt_image()).unwrap();
    std::fs::write(devdir.join("vda1"), b"").unwrap();
    // what the ESP shows once mounted
    let esp = dir.path().join("run/ironic-agent/esp/EFI/BOOT");
    std::fs::create_dir_all(&esp).unwrap();
    std::fs::write(esp.join("BOOTX64.EFI"), b"MZ").unwrap();
    let runner = Arc::new(RecordingRunner::new());
    runner.on(
        &["efibootmgr", "-v"],
        "BootCurrent: 0001\nBoot0001* UEFI QEMU HARDDISK \tPciRoot(0x0)/Pci(0x3,0x0)\nBoot0003* ironic1\tHD(1,GPT,x)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n",
    );
    let d = Deployer::new(
        Machine::new(Host::new(dir.path()), runner.clone()),
        SharedSettings::new(settings()),
    );
    let mut c = StepCall {
        args: json!({"root_uuid": "0x00000000", "efi_system_part_uuid": null, "target_boot_mode": "uefi"})
            .as_object()
            .unwrap()
            .clone(),
        ..StepCall::default()
    };
    d.install_bootloader(&c).unwrap();
    let r = dir.path().display().to_string();
    let lines: Vec<String> = runner
        .lines()
        .into_iter()
        .map(|l| l.replace(&r, ""))
        .collect();
    let pos = |s: &str| {
        lines
            .iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{s:?} not run: {lines:#?}"))
    };
    let mount = pos("mount -o ro -t vfat /dev/vda1 /run/ironic-agent/esp");
    let umount = pos("umount /run/ironic-agent/esp");
    let efivars = pos("mount -t efivarfs efivarfs /sys/firmware/efi/efivars");
    let delete = pos("efibootmgr -b 0003 -B");
    let create = pos("efibootmgr -v -c -d /dev/vda -p 1 -w -L ironic1 -l \\EFI\\BOOT\\BOOTX64.EFI");
    assert!(
        mount < umount && umount < efivars && efivars < delete && delete < create,
        "{lines:#?}"
    );

    // A failing efibootmgr is an error naming the command and its stderr (IPA re-raises
    // anything but FileNotFoundError from `efibootmgr --version`).
    let runner = Arc::new(RecordingRunner::new());
    runner.fail(
        &["efibootmgr", "--version"],
        2,
        "efibootmgr: error while loading shared libraries: libefivar.so.1",
    );
    let d = Deployer::new(
        Machine::new(Host::new(dir.path()), runner.clone()),
        SharedSettings::new(settings()),
    );
    let e = d.install_bootloader(&c).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CommandExecutionError);
    for want in [
        "Could not configure UEFI boot on device /dev/vda",
        "`efibootmgr --version` exited with code 2",
        "libefivar.so.1",
        "efibootmgr works in the deploy ramdisk",
    ] {
        assert!(e.details.contains(want), "{want:?} not in {}", e.details);
    }

    // No efibootmgr: nothing to do for a whole-disk image, as IPA.
    let runner = Arc::new(RecordingRunner::new());
    runner.without_program("efibootmgr");
    let d = Deployer::new(
        Machine::new(Host::new(dir.path()), runner.clone()),
        SharedSettings::new(settings()),
    );
    d.install_bootloader(&c).unwrap();
    assert_eq!(runner.lines(), vec!["efibootmgr --version"]);
    // A non-zero root uuid would need GRUB: refused unless failures are ignored.
    c.args.insert("root_uuid".into(), json!("0x1234abcd"));
    let e = d.install_bootloader(&c).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImage);
    c.args
        .insert("ignore_bootloader_failure".into(), json!(true));
    d.install_bootloader(&c).unwrap();
}
