//! A static file server on 127.0.0.1 for deploy tests: the guest reaches it as
//! `http://10.0.2.2:<port>/<file>` (QEMU user networking), and the conductor, whose HEAD of
//! the same URL cannot reach 10.0.2.2, uses it as its `http_proxy`: a proxy-style request
//! (`HEAD http://10.0.2.2:<port>/<file>`) is answered from the same directory.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

/// The instance images of `tests/images/build`, built once (cached in
/// `target/test-images`, rebuilt when the script changes) under a lock.
pub fn test_images() -> PathBuf {
    let root = crate::qemu::repo_root();
    let out = root.join("target/test-images");
    let _l = crate::qemu::FileLock::acquire(&root.join("target/test-images.lock"));
    let st = std::process::Command::new(root.join("tests/images/build"))
        .arg(&out)
        .status()
        .expect("running tests/images/build");
    assert!(st.success(), "tests/images/build failed");
    out
}

pub struct ImageServer {
    pub port: u16,
}

impl ImageServer {
    /// Serves the files of `dir` (no sub-directories) until the process ends.
    pub fn start(dir: PathBuf) -> ImageServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind the image server");
        let port = l.local_addr().expect("local address").port();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &dir);
                });
            }
        });
        ImageServer { port }
    }

    /// The URL both sides use.
    pub fn url(&self, name: &str) -> String {
        format!("http://10.0.2.2:{}/{name}", self.port)
    }
}

fn serve_one(conn: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");
    // a proxy-style absolute URI from the conductor, or a plain path from the guest
    let path = target
        .split_once("://")
        .map_or(target, |(_, r)| r.find('/').map_or("/", |i| &r[i..]));
    let name = path.trim_start_matches('/');
    let mut w = conn;
    let file = (!name.contains('/') && !name.is_empty())
        .then(|| std::fs::File::open(dir.join(name)).ok())
        .flatten();
    let Some(mut f) = file else {
        return w.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    let len = f.metadata()?.len();
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )?;
    if method == "GET" {
        std::io::copy(&mut f, &mut w)?;
    }
    Ok(())
}
