use super::*;
use hwmgr::{Host, StepKind};
use serde_json::json;
use std::sync::Arc;
use testkit::RecordingRunner;

fn call(kind: StepKind, driver_info: Value) -> StepCall {
    StepCall::new(
        kind,
        json!({"uuid": "n-1", "driver_info": driver_info}),
        json!([]),
        Default::default(),
    )
}

fn read(driver_info: Value) -> Result<CpuBurnin> {
    CpuBurnin::from_call(&call(StepKind::Service, driver_info))
}

#[test]
fn ipas_defaults() {
    let b = read(json!({})).unwrap();
    assert_eq!(
        b,
        CpuBurnin {
            workers: None,
            timeout: Duration::from_secs(86_400),
            output_file: None
        }
    );
    let b = CpuBurnin::from_call(&StepCall::default()).unwrap();
    assert_eq!(b.timeout, Duration::from_secs(DEFAULT_TIMEOUT_S));
}

#[test]
fn values_as_the_cli_and_the_api_store_them() {
    // `baremetal node set --driver-info k=v` stores strings; a JSON patch may store numbers.
    for (cpu, timeout, workers, secs) in [
        (json!(3), json!(2911), Some(3), 2911),
        (json!("2"), json!("2"), Some(2), 2),
        (json!(0), json!("10m"), None, 600),
        (json!("-1"), json!("1h"), None, 3600),
        (json!(4096), json!("30d"), Some(4096), 30 * 86_400),
        (json!(1), json!("45S"), Some(1), 45),
    ] {
        let b = read(
            json!({"agent_burnin_cpu_cpu": cpu, "agent_burnin_cpu_timeout": timeout,
                            "agent_burnin_cpu_outputfile": "/var/log/burnin.cpu"}),
        )
        .unwrap();
        assert_eq!(b.workers, workers, "{cpu}");
        assert_eq!(b.timeout, Duration::from_secs(secs), "{timeout}");
        assert_eq!(b.output_file.as_deref(), Some("/var/log/burnin.cpu"));
    }
}

#[test]
fn malformed_fields_are_refused_naming_the_field() {
    for (key, bad) in [
        ("agent_burnin_cpu_cpu", json!(4097)),
        ("agent_burnin_cpu_cpu", json!("all")),
        ("agent_burnin_cpu_cpu", json!(1.5)),
        ("agent_burnin_cpu_timeout", json!(0)),
        ("agent_burnin_cpu_timeout", json!("0")),
        ("agent_burnin_cpu_timeout", json!(-5)),
        ("agent_burnin_cpu_timeout", json!("31d")),
        ("agent_burnin_cpu_timeout", json!("2w")),
        ("agent_burnin_cpu_timeout", json!("1.5h")),
        ("agent_burnin_cpu_timeout", json!("h")),
        ("agent_burnin_cpu_timeout", json!("99999999999999999999")),
        ("agent_burnin_cpu_timeout", json!(true)),
        ("agent_burnin_cpu_outputfile", json!("relative/file")),
        ("agent_burnin_cpu_outputfile", json!(7)),
    ] {
        let e = read(json!({ key: bad })).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError, "{key}={bad}");
        assert!(
            e.details
                .starts_with(&format!("driver_info.{key} is {bad}, which is not "))
                && e.details.contains(&format!("--driver-info {key}=<value>"))
                && e.details.ends_with("No CPU was burnt in."),
            "{}",
            e.details
        );
    }
}

#[test]
fn the_step_burns_for_its_timeout_and_writes_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("var/log")).unwrap();
    let r = RecordingRunner::new();
    let m = crate::GenericHardwareManager::new(Machine::new(
        Host::new(dir.path()),
        Arc::new(r.clone()),
    ));
    use hwmgr::HardwareManager;
    let t0 = std::time::Instant::now();
    let done = m.execute(
        "burnin_cpu",
        &call(
            StepKind::Clean,
            json!({"agent_burnin_cpu_cpu": "2", "agent_burnin_cpu_timeout": 1,
                   "agent_burnin_cpu_outputfile": "/var/log/burnin.cpu"}),
        ),
    );
    let took = t0.elapsed();
    assert_eq!(done, Some(Ok(Value::Null)), "IPA's result");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(r.calls().is_empty(), "no program is run");
    let out = std::fs::read_to_string(dir.path().join("var/log/burnin.cpu")).unwrap();
    assert!(out.starts_with("2 worker(s) for 1 s"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("cpu: 2 worker(s), "),
        "{out}"
    );
}

#[test]
fn it_is_offered_for_cleaning_and_servicing_as_ipa_lists_it() {
    use hwmgr::StepTable;
    let steps = |kind| {
        crate::manager::STEPS
            .steps(kind)
            .into_iter()
            .find(|s| s.step == "burnin_cpu")
            .map(|s| serde_json::to_value(s).unwrap())
    };
    let ipa = json!({"step": "burnin_cpu", "priority": 0, "interface": "deploy",
                     "reboot_requested": false, "abortable": true});
    assert_eq!(steps(StepKind::Clean), Some(ipa.clone()));
    assert_eq!(steps(StepKind::Service), Some(ipa));
    assert_eq!(steps(StepKind::Deploy), None);
}

#[test]
fn an_invalid_field_fails_the_step_before_any_thread_starts() {
    let m = Machine::new(Host::new("/nonexistent"), Arc::new(RecordingRunner::new()));
    let t0 = std::time::Instant::now();
    let e = burnin_cpu(
        &m,
        &call(
            StepKind::Service,
            json!({"agent_burnin_cpu_timeout": "forever"}),
        ),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
    assert!(t0.elapsed() < Duration::from_secs(1));
}
