//! Antivirus events that report a detection or an action on a file: which provider, which ids,
//! and where the file path, threat and action are. Data, so a product is added by adding a row.
//!
//! Only rows whose provider name and ids a source supports are here; the `source` column says
//! which (tags as in `exchange-facts.md`: [V] checked, [M] from memory, to verify).

/// One antivirus product's detection events.
#[derive(Debug, Clone, Copy)]
pub struct AvEvent {
    /// `Provider/@Name` as Windows writes it.
    pub provider: &'static str,
    pub product: &'static str,
    /// Event ids and what each says happened.
    pub ids: &'static [(u32, &'static str)],
    /// Named fields holding the file path, tried in order; when none is present (classic
    /// sources with unnamed `<Data>`) every value is searched for a path.
    pub path_fields: &'static [&'static str],
    pub threat_fields: &'static [&'static str],
    pub action_fields: &'static [&'static str],
    pub source: &'static str,
}

pub const AV_EVENTS: &[AvEvent] = &[
    AvEvent {
        provider: "Microsoft-Windows-Windows Defender",
        product: "Microsoft Defender Antivirus",
        ids: &[
            (1116, "detected malware or potentially unwanted software"),
            (
                1117,
                "took action against malware or potentially unwanted software",
            ),
        ],
        path_fields: &["Path"],
        threat_fields: &["Threat Name"],
        action_fields: &["Action Name"],
        source: "[V] exchange-facts.md B6; fields as in evtx-corpus ID1116-1117-Defender_threat_detected.evtx (Windows Server 2016+)",
    },
    AvEvent {
        provider: "Microsoft Antimalware",
        product: "System Center Endpoint Protection / Forefront Endpoint Protection",
        ids: &[
            (1116, "detected malware or potentially unwanted software"),
            (
                1117,
                "took action against malware or potentially unwanted software",
            ),
        ],
        path_fields: &["Path"],
        threat_fields: &["Threat Name"],
        action_fields: &["Action Name"],
        source: "[M] the antimalware engine Defender grew from, same event schema, on Windows Server 2008 R2/2012 hosts",
    },
    AvEvent {
        provider: "Symantec AntiVirus",
        product: "Symantec Endpoint Protection",
        ids: &[(5, "found a virus"), (51, "found a security risk")],
        path_fields: &[],
        threat_fields: &[],
        action_fields: &[],
        source: "[V] 5 Virus Found (Symantec KB, exchange-facts.md B3); [M] 51 Security Risk Found",
    },
];
