//! The real `lookout` binary as a child process, for tests that kill it or run several at once.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `lookout serve`, killed (SIGKILL) when dropped so a failing test leaves none behind.
pub struct Lookout {
    child: Child,
    pub port: u16,
}

impl Lookout {
    /// Starts `lookout serve` with `vars` added to the environment, and returns once it serves:
    /// then it is connected to the broker and its subscriptions are confirmed. `LOOKOUT_LISTEN`
    /// must name a fixed port.
    pub async fn start(vars: &HashMap<String, String>) -> Self {
        let port = vars["LOOKOUT_LISTEN"]
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .filter(|port| *port != 0)
            .expect("LOOKOUT_LISTEN names a fixed port");
        let child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .arg("serve")
            .envs(vars)
            .stdout(Stdio::null())
            .spawn()
            .expect("lookout starts");
        let mut lookout = Self { child, port };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return lookout;
            }
            if let Ok(Some(status)) = lookout.child.try_wait() {
                panic!("lookout exited before serving: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        lookout.kill();
        panic!("lookout did not serve on port {port} within 30 s");
    }

    /// SIGKILL: no chance to store, acknowledge or say goodbye to the broker.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Lookout {
    fn drop(&mut self) {
        self.kill();
    }
}
