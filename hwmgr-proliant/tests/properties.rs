//! Property tests: random controller states (rendered as ssacli text and parsed back) and
//! random configurations never panic; a plan only uses drives that exist, are unassigned
//! and are used once, or the configuration is refused with a reason and runs nothing
//! destructive.

use hwmgr::ErrorKind;
use hwmgr_proliant::allocate::Target;
use hwmgr_proliant::config::min_disks;
use hwmgr_proliant::model::Server;
use hwmgr_proliant::parse::parse_tree;
use hwmgr_proliant::raid;
use hwmgr_proliant::size::parse_bytes;
use proptest::prelude::*;
use serde_json::{json, Value};
use testkit::RecordingRunner;

#[derive(Debug, Clone)]
struct Drive {
    size: u32,
    iface: &'static str,
}

#[derive(Debug, Clone)]
struct Ctrl {
    hba: bool,
    arrays: Vec<Vec<Drive>>,
    free: Vec<Drive>,
}

fn drive() -> impl Strategy<Value = Drive> {
    (
        prop::sample::select(vec![100u32, 300, 400, 500, 600, 900, 1200]),
        prop::sample::select(vec!["SAS", "SATA", "Solid State SAS", "SATASSD", "NVMe"]),
    )
        .prop_map(|(size, iface)| Drive { size, iface })
}

fn ctrl() -> impl Strategy<Value = Ctrl> {
    (
        prop::bool::weighted(0.2),
        prop::collection::vec(prop::collection::vec(drive(), 1..4), 0..3),
        prop::collection::vec(drive(), 0..9),
    )
        .prop_map(|(hba, arrays, free)| Ctrl { hba, arrays, free })
}

fn render(ctrls: &[Ctrl]) -> String {
    let mut t = String::from("\n");
    let mut wwn = 0x1000u32;
    for (ci, c) in ctrls.iter().enumerate() {
        let slot = ci + 1;
        t += &format!("Smart Array P{slot}00 in Slot {slot}\n   Slot: {slot}\n");
        if c.hba {
            t += "   HBA Mode Enabled: True\n";
        }
        let pd = |t: &mut String, port: usize, i: usize, d: &Drive, ind: &str| {
            *t += &format!(
                "\n{ind}physicaldrive {port}I:1:{i}\n{ind}   Status: OK\n{ind}   Interface Type: {}\n{ind}   Size: {} GB\n",
                d.iface, d.size
            );
        };
        for (ai, a) in c.arrays.iter().enumerate() {
            let letter = (b'A' + ai as u8) as char;
            wwn += 1;
            t += &format!(
                "\n   Array: {letter}\n      Interface Type: SAS\n\n      Logical Drive: {}\n         Size: 50.0 GB\n         Fault Tolerance: 0\n         Unique Identifier: 600508B1{wwn:08X}0000000000000000\n",
                ai + 1
            );
            for (i, d) in a.iter().enumerate() {
                pd(&mut t, 10 + ai, i + 1, d, "      ");
            }
        }
        if !c.free.is_empty() {
            t += "\n   unassigned\n";
            for (i, d) in c.free.iter().enumerate() {
                pd(&mut t, 1, i + 1, d, "      ");
            }
        }
    }
    t
}

fn ld(ids: Vec<String>, ctrl_names: Vec<String>) -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            12 => prop::sample::select(vec!["0", "1", "5", "1+0"]),
            2 => prop::sample::select(vec!["6", "5+0", "10"]),
            1 => Just("JBOD"),
        ],
        prop_oneof![6 => (1u64..700).prop_map(|g| json!(g)), 1 => Just(json!("MAX"))],
        any::<bool>(),
        prop::option::weighted(0.3, prop::sample::select(vec!["hdd", "ssd"])),
        prop::option::weighted(0.2, prop::sample::select(vec!["sas", "sata", "scsi"])),
        prop::option::weighted(0.2, 1usize..7),
        prop::option::weighted(0.2, prop::sample::select(ctrl_names)),
        prop::option::weighted(
            0.15,
            prop::sample::subsequence(ids.clone(), 0..=ids.len().min(4)),
        ),
    )
        .prop_map(|(rl, size, share, dt, it, n, c, pds)| {
            let mut o = json!({"raid_level": rl, "size_gb": size});
            if share {
                o["share_physical_disks"] = json!(true);
            }
            if let Some(v) = dt {
                o["disk_type"] = json!(v);
            }
            if let Some(v) = it {
                o["interface_type"] = json!(v);
            }
            if let Some(v) = n {
                o["number_of_physical_disks"] = json!(v);
            }
            if let Some(v) = c {
                o["controller"] = json!(v);
            }
            if let Some(v) = pds.filter(|p| !p.is_empty()) {
                o["physical_disks"] = json!(v);
            }
            o
        })
}

fn scenario() -> impl Strategy<Value = (String, Value)> {
    prop::collection::vec(ctrl(), 1..3).prop_flat_map(|ctrls| {
        let text = render(&ctrls);
        let server = Server::parse(&text).expect("rendered text parses");
        let mut ids: Vec<String> = server
            .controllers
            .iter()
            .flat_map(|c| c.physical_drives().map(|d| d.id.clone()))
            .collect();
        ids.push("9I:9:9".into());
        let mut names: Vec<String> = server.controllers.iter().map(|c| c.id.clone()).collect();
        names.push("Smart Array P999 in Slot 99".into());
        (
            Just(text),
            prop::collection::vec(ld(ids, names), 1..4).prop_map(|l| json!({"logical_disks": l})),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn plans_use_only_free_existing_drives((text, cfg) in scenario()) {
        let server = Server::parse(&text).unwrap();
        match raid::plan(&server, &cfg) {
            Err(reason) => prop_assert!(reason.len() > 10, "reason too short: {reason}"),
            Ok(plan) => {
                let mut used: Vec<(String, String)> = Vec::new();
                let mut seen_creators = Vec::new();
                for p in &plan.placements {
                    let c = server.controller(&p.controller).expect("planned controller exists");
                    prop_assert!(!c.is_hba(), "HBA controller used");
                    prop_assert!(min_disks(&p.request.raid_level).is_some());
                    match &p.target {
                        Target::NewArray { drives } => {
                            prop_assert!(drives.len() >= min_disks(&p.request.raid_level).unwrap());
                            for d in drives {
                                let pd = c.drive(d).expect("planned drive exists");
                                prop_assert!(!pd.assigned, "drive {} is in an array", d);
                                let key = (c.id.clone(), d.clone());
                                prop_assert!(!used.contains(&key), "drive {} used twice", d);
                                used.push(key);
                            }
                            if p.request.share {
                                seen_creators.push(p.request.index);
                            }
                        }
                        Target::SharedWith { creator } => {
                            prop_assert!(p.request.share);
                            prop_assert!(seen_creators.contains(creator), "shares an array not planned before");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_refused_configuration_runs_nothing_destructive((text, cfg) in scenario()) {
        let r = RecordingRunner::new();
        r.on(&["ssacli", "controller", "all", "show", "config", "detail"], &text);
        let server = Server::parse(&text).unwrap();
        let planned = raid::plan(&server, &cfg);
        // The dump never changes, so after the first create the new LD is "not found":
        // an error, never a panic.
        let result = raid::create(&r, ErrorKind::CleaningError, &cfg);
        let creates = r.lines().iter().filter(|l| l.contains(" create ") && !l.ends_with("size=?")).count();
        match planned {
            Err(_) => {
                prop_assert!(result.is_err());
                prop_assert_eq!(creates, 0);
            }
            Ok(_) => {
                prop_assert!(creates >= 1);
                if let Err(e) = result {
                    prop_assert!(e.details.contains("not found"), "{}", e.details);
                }
            }
        }
    }

    #[test]
    fn any_text_parses_without_panic(text in "(( {0,8})([A-Za-z0-9:. ()]{0,20})\n){0,30}") {
        let _ = parse_tree(&text);
        let _ = Server::parse(&text);
    }

    #[test]
    fn any_size_text_is_handled(text in "[-+0-9. ]{0,12}[KMGTPEZYRQkmi]{0,2}(B|b|bit|)") {
        let _ = parse_bytes(&text);
    }
}
