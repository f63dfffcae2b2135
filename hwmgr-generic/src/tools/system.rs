//! Programs the inventory and the log bundle run: `sync`, `dmesg`, `ip`, `ipmitool`, and the
//! listings the log bundle takes from programs of the other modules.

pub mod sync {
    //! `sync` (`standby.sync`: IPA's `GenericHardwareManager.full_sync` runs it too).
    use crate::tools::{Program, ToolCmd};
    use std::time::Duration;

    /// Flushes every file system; slow disks take long, hence the long timeout.
    pub fn all() -> ToolCmd {
        ToolCmd::new(Program::Sync).timeout(Duration::from_secs(600))
    }
}

pub mod dmesg {
    //! `dmesg`.
    use crate::tools::{Program, ToolCmd};

    /// The kernel's ring buffer, for the log bundle.
    pub fn all() -> ToolCmd {
        ToolCmd::new(Program::Dmesg)
    }
}

pub mod ip {
    //! `ip` (iproute2).
    use crate::tools::{Program, ToolCmd};
    use std::time::Duration;

    /// Every interface's addresses as JSON (`ip -j addr show`), for the inventory.
    pub fn addresses_json() -> ToolCmd {
        ToolCmd::new(Program::Ip)
            .texts(["-j", "addr", "show"])
            .timeout(Duration::from_secs(10))
    }

    /// The same as text, for the log bundle.
    pub fn addresses() -> ToolCmd {
        ToolCmd::new(Program::Ip).text("addr")
    }
}

pub mod ipmitool {
    //! `ipmitool` (the BMC through the local IPMI device).
    use crate::tools::{Program, ToolCmd};
    use std::time::Duration;

    /// `ipmitool lan print <channel>`: the BMC's LAN settings on one channel. A BMC that
    /// does not answer a channel takes long; IPA gives each call the same 15 s.
    pub fn lan_print(channel: u8) -> ToolCmd {
        ToolCmd::new(Program::Ipmitool)
            .texts(["lan", "print"])
            .text(channel.to_string())
            .timeout(Duration::from_secs(15))
    }

    /// `ipmitool lan6 print <channel> <section>`: one part of the BMC's IPv6 settings
    /// (`enables`, `dynamic_addr`, `static_addr`; no section: all of them).
    pub fn lan6_print(channel: u8, section: Option<&str>) -> ToolCmd {
        let cmd = ToolCmd::new(Program::Ipmitool)
            .texts(["lan6", "print"])
            .text(channel.to_string());
        match section {
            Some(s) => cmd.text(s),
            None => cmd,
        }
        .timeout(Duration::from_secs(15))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(c: crate::tools::ToolCmd) -> String {
        c.argv().join(" ")
    }

    #[test]
    fn argv_of_every_command() {
        assert_eq!(argv(sync::all()), "sync");
        assert_eq!(argv(dmesg::all()), "dmesg");
        assert_eq!(argv(ip::addresses_json()), "ip -j addr show");
        assert_eq!(argv(ip::addresses()), "ip addr");
        assert_eq!(argv(ipmitool::lan_print(3)), "ipmitool lan print 3");
        assert_eq!(
            argv(ipmitool::lan6_print(2, Some("enables"))),
            "ipmitool lan6 print 2 enables"
        );
    }
}
