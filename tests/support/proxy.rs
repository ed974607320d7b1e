//! A TCP proxy the test controls, to make one of a directory's URLs unreachable on demand.
//!
//! While it is up it forwards every connection to its target. Taken down, it cuts the
//! connections it carries (as a controller that dies would) and closes each new one at once,
//! so a client sees its connection reset and must fail over to another URL. [`Proxy::allow`]
//! takes it down by itself after a given number of further connections, which lets a test
//! cut a controller off between two steps of one directory attempt without timing anything.

// Each test file includes this module and uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A running proxy.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// The open connections by number: both ends, to cut them when taken down.
    open: Arc<Mutex<HashMap<u64, [TcpStream; 2]>>>,
    /// Connections forwarded so far.
    forwarded: Arc<AtomicU64>,
    /// Connections still forwarded before it goes down by itself; negative: no limit.
    budget: Arc<AtomicI64>,
}

impl Proxy {
    /// Listens on `listen` (port 0 for any) and forwards to `target`.
    pub fn start(listen: &str, target: SocketAddr) -> Self {
        let listener = TcpListener::bind(listen).expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(HashMap::new()));
        let forwarded = Arc::new(AtomicU64::new(0));
        let budget = Arc::new(AtomicI64::new(-1));
        let (up_, open_, forwarded_, budget_) =
            (up.clone(), open.clone(), forwarded.clone(), budget.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if budget_.load(Ordering::SeqCst) == 0 {
                    up_.store(false, Ordering::SeqCst);
                }
                if !up_.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                if budget_.load(Ordering::SeqCst) > 0 {
                    budget_.fetch_sub(1, Ordering::SeqCst);
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let id = forwarded_.fetch_add(1, Ordering::SeqCst);
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    open_.lock().unwrap().insert(id, [c, s]);
                }
                pipe(&client, &server, id, open_.clone());
                pipe(&server, &client, id, open_.clone());
            }
        });
        Self {
            addr,
            up,
            open,
            forwarded,
            budget,
        }
    }

    /// Forwards the next `connections` new connections (letting each run to its end), then
    /// refuses every later one as if taken down; [`Proxy::set_up`] lifts the limit.
    pub fn allow(&self, connections: u32) {
        self.budget.store(i64::from(connections), Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }

    /// Takes it down (cuts every open connection) or brings it back up.
    pub fn set_up(&self, up: bool) {
        self.budget.store(-1, Ordering::SeqCst);
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for [client, server] in self.open.lock().unwrap().drain().map(|(_, ends)| ends) {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            }
        }
    }

    /// Connections forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` on a thread until either side closes, then forgets connection `id`.
fn pipe(from: &TcpStream, to: &TcpStream, id: u64, open: Arc<Mutex<HashMap<u64, [TcpStream; 2]>>>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
        open.lock().unwrap().remove(&id);
    });
}
