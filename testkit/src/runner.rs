//! [`RecordingRunner`]: a [`Runner`] for unit tests that records every argv and answers
//! from a script, so a manager's plan can be checked without running a tool.

use hwmgr::{Cmd, CmdOutput, CommandError, Failure, Runner};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// A scripted answer for [`RecordingRunner`].
#[derive(Debug, Clone)]
pub enum Reply {
    Output(CmdOutput),
    Fail { code: i32, stderr: String },
}

/// A fake runner for unit tests: records every argv and answers from a script. Rules are
/// matched by argv prefix, most recently added first; a rule may be limited to a number of
/// uses. Unmatched commands succeed with empty output.
#[derive(Debug, Clone, Default)]
pub struct RecordingRunner {
    inner: Arc<Mutex<Recording>>,
}

#[derive(Debug, Default)]
struct Recording {
    calls: Vec<Vec<String>>,
    rules: Vec<(Vec<String>, Reply, Option<usize>)>,
    missing: HashSet<String>,
}

impl RecordingRunner {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, prefix: &[&str], reply: Reply, uses: Option<usize>) -> &Self {
        let prefix = prefix.iter().map(|s| s.to_string()).collect();
        self.inner.lock().unwrap().rules.push((prefix, reply, uses));
        self
    }

    /// Commands starting with `prefix` print `stdout` and exit 0.
    pub fn on(&self, prefix: &[&str], stdout: &str) -> &Self {
        self.add(prefix, Reply::Output(CmdOutput::ok(stdout)), None)
    }

    /// Like [`on`](Self::on) but for a given exit status (checked against `ok_codes`).
    pub fn on_status(&self, prefix: &[&str], status: i32, stdout: &str) -> &Self {
        let out = CmdOutput {
            status,
            stdout: stdout.into(),
            stderr: String::new(),
        };
        self.add(prefix, Reply::Output(out), None)
    }

    /// The next `times` commands starting with `prefix` print `stdout`.
    pub fn on_times(&self, prefix: &[&str], stdout: &str, times: usize) -> &Self {
        self.add(prefix, Reply::Output(CmdOutput::ok(stdout)), Some(times))
    }

    /// Commands starting with `prefix` fail with `code` and `stderr`.
    pub fn fail(&self, prefix: &[&str], code: i32, stderr: &str) -> &Self {
        let reply = Reply::Fail {
            code,
            stderr: stderr.into(),
        };
        self.add(prefix, reply, None)
    }

    /// The next `times` commands starting with `prefix` fail with `code` and `stderr`.
    pub fn fail_times(&self, prefix: &[&str], code: i32, stderr: &str, times: usize) -> &Self {
        let reply = Reply::Fail {
            code,
            stderr: stderr.into(),
        };
        self.add(prefix, reply, Some(times))
    }

    /// Pretend `program` is not installed.
    pub fn without_program(&self, program: &str) -> &Self {
        self.inner.lock().unwrap().missing.insert(program.into());
        self
    }

    /// Every argv run so far, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Every command run so far, as display strings (handy for assertions).
    pub fn lines(&self) -> Vec<String> {
        self.calls().iter().map(|c| c.join(" ")).collect()
    }
}

impl Runner for RecordingRunner {
    fn has_program(&self, program: &str) -> bool {
        !self.inner.lock().unwrap().missing.contains(program)
    }

    fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CommandError> {
        let argv = cmd.argv();
        let mut rec = self.inner.lock().unwrap();
        rec.calls.push(argv.clone());
        let err = |failure, stdout: String, stderr: String| CommandError {
            command: cmd.to_string(),
            failure,
            stdout,
            stderr,
        };
        if rec.missing.contains(&cmd.program) {
            return Err(err(Failure::NotFound, String::new(), String::new()));
        }
        let hit = rec
            .rules
            .iter_mut()
            .rev()
            .find(|(p, _, uses)| argv.starts_with(p) && uses.is_none_or(|n| n > 0));
        let reply = match hit {
            Some((_, reply, uses)) => {
                if let Some(n) = uses {
                    *n -= 1;
                }
                reply.clone()
            }
            None => Reply::Output(CmdOutput::default()),
        };
        match reply {
            Reply::Output(out) if cmd.ok_codes.contains(&out.status) => Ok(out),
            Reply::Output(out) => Err(err(Failure::Exit(out.status), out.stdout, out.stderr)),
            Reply::Fail { code, stderr } => Err(err(Failure::Exit(code), String::new(), stderr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_runner_scripts_and_records() {
        let r = RecordingRunner::new();
        r.on(&["mdadm", "--detail"], "UUID : x")
            .on_times(&["mdadm", "--detail", "/dev/md0"], "first", 1)
            .fail(&["sgdisk"], 4, "boom")
            .without_program("ssacli");
        assert_eq!(
            r.run(&Cmd::new("mdadm").args(["--detail", "/dev/md0"]))
                .unwrap()
                .stdout,
            "first"
        );
        assert_eq!(
            r.run(&Cmd::new("mdadm").args(["--detail", "/dev/md0"]))
                .unwrap()
                .stdout,
            "UUID : x"
        );
        let e = r.run(&Cmd::new("sgdisk").arg("-Z")).unwrap_err();
        assert_eq!((e.exit_code(), e.stderr.as_str()), (Some(4), "boom"));
        assert!(!r.has_program("ssacli"));
        assert_eq!(r.run(&Cmd::new("wipefs")).unwrap(), CmdOutput::default());
        assert_eq!(r.lines()[0], "mdadm --detail /dev/md0");
        assert_eq!(r.calls().len(), 4);
    }
}
