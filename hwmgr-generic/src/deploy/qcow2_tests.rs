//! The streaming qcow2 reader against real images made by `qemu-img` (from qemu-utils,
//! which `./test.sh` installs): every layout must decode to exactly what
//! `qemu-img convert -O raw` produces.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("qemu-img is needed for these tests (apt-get install qemu-utils; ./test.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A raw disk of `size` bytes with data in a few places and holes elsewhere (a GPT-ish
/// header, scattered text, compressible and incompressible blocks, a tail block).
fn make_raw(dir: &Path, size: u64) -> PathBuf {
    let p = dir.join("src.raw");
    let mut data = vec![0u8; size as usize];
    let mut x: u32 = 12345;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    };
    data[510] = 0x55;
    data[511] = 0xaa;
    let places = [
        (512u64, 4096usize),
        (1 << 20, 300_000),
        (3 << 20, 70_000),
        (size / 2 + 777, 200_000),
        (size - 65536, 65536),
    ];
    for (i, (at, len)) in places.into_iter().enumerate() {
        let chunk = if i % 2 == 0 {
            noise(len)
        } else {
            vec![b'a' + i as u8; len]
        };
        data[at as usize..at as usize + len].copy_from_slice(&chunk);
    }
    std::fs::write(&p, &data).unwrap();
    p
}

struct VecSink(Vec<u8>);

impl Sink for VecSink {
    type Error = String;
    fn data(&mut self, guest: u64, bytes: &[u8]) -> Result<(), String> {
        let end = guest as usize + bytes.len();
        if end > self.0.len() {
            return Err(format!("write past the end at {guest}"));
        }
        self.0[guest as usize..end].copy_from_slice(bytes);
        Ok(())
    }
}

/// Decodes `qcow2` the way the deploy does (a small first read, then the stream) into a
/// buffer that starts as 0xEE, zeroes the gaps, and compares with qemu-img's raw output.
fn decode_and_compare(dir: &Path, qcow2: &Path, park_limit: usize) -> Result<RangeSet, String> {
    let bytes = std::fs::read(qcow2).unwrap();
    let raw = dir.join("expected.raw");
    qemu_img(&[
        "convert",
        "-O",
        "raw",
        qcow2.to_str().unwrap(),
        raw.to_str().unwrap(),
    ]);
    let expected = std::fs::read(&raw).unwrap();
    let head = &bytes[..bytes.len().min(1 << 20)];
    let rest = &bytes[head.len()..];
    let mut sink = VecSink(vec![0xee; expected.len()]);
    let (h, written) =
        decode_with_limit(head, rest, &mut sink, park_limit).map_err(|e| match e {
            DecodeError::Format(m) => m,
            DecodeError::Input(e) => e.to_string(),
            DecodeError::Sink(e) => e,
        })?;
    assert_eq!(h.size, expected.len() as u64);
    for (s, e) in written.gaps(h.size) {
        sink.0[s as usize..e as usize].fill(0);
    }
    assert!(
        sink.0 == expected,
        "decoded image differs from qemu-img convert -O raw"
    );
    Ok(written)
}

#[test]
fn plain_compressed_and_small_cluster_images_decode_exactly() {
    let d = tempfile::tempdir().unwrap();
    let raw = make_raw(d.path(), 8 << 20);
    for (name, extra) in [
        ("plain", vec![]),
        ("compressed", vec!["-c"]),
        ("small-clusters", vec!["-o", "cluster_size=4096"]),
        ("compressed-512", vec!["-c", "-o", "cluster_size=512"]),
        ("v2", vec!["-o", "compat=0.10"]),
        ("big-clusters", vec!["-o", "cluster_size=2M"]),
    ] {
        let q = d.path().join(format!("{name}.qcow2"));
        let mut args = vec!["convert", "-O", "qcow2"];
        args.extend(extra.iter().copied());
        args.push(raw.to_str().unwrap());
        args.push(q.to_str().unwrap());
        qemu_img(&args);
        let written =
            decode_and_compare(d.path(), &q, PARK_LIMIT).unwrap_or_else(|e| panic!("{name}: {e}"));
        // sparse: the holes are not written, they are zeroed by the caller
        if name != "big-clusters" {
            assert!(
                !written.gaps(8 << 20).is_empty(),
                "{name}: holes should stay unwritten"
            );
        }
    }
}

#[test]
fn sparse_image_with_a_large_virtual_size() {
    let d = tempfile::tempdir().unwrap();
    let q = d.path().join("sparse.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", q.to_str().unwrap(), "64M"]);
    // only metadata: everything must be a gap
    let written = decode_and_compare(d.path(), &q, PARK_LIMIT).unwrap();
    assert_eq!(written.gaps(64 << 20), vec![(0, 64 << 20)]);
}

#[test]
fn tables_after_their_data_are_parked_or_refused() {
    let d = tempfile::tempdir().unwrap();
    let raw = make_raw(d.path(), 4 << 20);
    let q = d.path().join("resized.qcow2");
    qemu_img(&[
        "convert",
        "-O",
        "qcow2",
        "-o",
        "cluster_size=512",
        raw.to_str().unwrap(),
        q.to_str().unwrap(),
    ]);
    // Growing the image needs a larger L1 table, which qemu moves to the end of the file:
    // every data cluster now comes before the table that leads to it.
    qemu_img(&["resize", "-q", q.to_str().unwrap(), "64M"]);
    let bytes = std::fs::read(&q).unwrap();
    let l1 = u64::from_be_bytes(bytes[40..48].try_into().unwrap());
    assert!(
        l1 * 10 > bytes.len() as u64 * 9,
        "qemu-img resize should have moved the L1 table to the end ({l1} of {})",
        bytes.len()
    );
    decode_and_compare(d.path(), &q, PARK_LIMIT).expect("fits in the parking space");
    let e = decode_and_compare(d.path(), &q, 64 << 10).unwrap_err();
    assert!(
        e.contains("cannot be streamed") && e.contains("qemu-img convert"),
        "{e}"
    );
}

#[test]
fn backing_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("base.qcow2");
    let top = d.path().join("top.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", base.to_str().unwrap(), "4M"]);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        base.to_str().unwrap(),
        "-F",
        "qcow2",
        top.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&top).unwrap();
    let e = parse_header(&bytes).unwrap_err();
    assert!(
        e.contains("backing file") && e.contains("base.qcow2"),
        "{e}"
    );
}

#[test]
fn a_truncated_image_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let raw = make_raw(d.path(), 4 << 20);
    let q = d.path().join("t.qcow2");
    qemu_img(&[
        "convert",
        "-O",
        "qcow2",
        raw.to_str().unwrap(),
        q.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&q).unwrap();
    let cut = &bytes[..bytes.len() - 70_000];
    let mut sink = VecSink(vec![0; 4 << 20]);
    match decode(cut, &[][..], &mut sink) {
        Err(DecodeError::Format(m)) => assert!(m.contains("truncated"), "{m}"),
        other => panic!("expected a truncation error, got {:?}", other.map(|_| ())),
    }
}
