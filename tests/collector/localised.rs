//! icacls output as German, French and Spanish Windows print it, in a bundle shaped as the
//! collector writes it (icacls by name beside the collector's SID listing), run through the
//! whole analysis: the OWA rights are judged by SID and by the localised names, never by the
//! English ones alone.

use exhume::diagnosis::{Diagnosis, Status};
use samplegen::BundleBuilder;
use samplegen::builder::utf8_bom_crlf;
use samplegen::host::{ICACLS_DONE, icacls_listing};
use samplegen::scenarios::{INSTALL_2010, exchange2010_sp2};

const RULE: &str = "acl-owa-auth-restricted";

/// A language's names for the principals icacls prints, and its closing line.
struct Lang {
    code: &'static str,
    authenticated_users: &'static str,
    system: &'static str,
    administrators: &'static str,
    users: &'static str,
    creator_owner: &'static str,
    network_service: &'static str,
    summary: &'static str,
}

const LANGS: &[Lang] = &[
    Lang {
        code: "de",
        authenticated_users: "NT-AUTORITÄT\\Authentifizierte Benutzer",
        system: "NT-AUTORITÄT\\SYSTEM",
        administrators: "VORDEFINIERT\\Administratoren",
        users: "VORDEFINIERT\\Benutzer",
        creator_owner: "ERSTELLER-BESITZER",
        network_service: "NT-AUTORITÄT\\NETZWERKDIENST",
        summary: "1 Dateien erfolgreich verarbeitet, bei 0 Dateien ist ein Verarbeitungsfehler aufgetreten.",
    },
    Lang {
        code: "fr",
        authenticated_users: "AUTORITE NT\\Utilisateurs authentifiés",
        system: "AUTORITE NT\\Système",
        administrators: "BUILTIN\\Administrateurs",
        users: "BUILTIN\\Utilisateurs",
        creator_owner: "CREATEUR PROPRIETAIRE",
        network_service: "AUTORITE NT\\SERVICE RÉSEAU",
        summary: "1 fichiers correctement traités ; échec du traitement de 0 fichiers",
    },
    Lang {
        code: "es",
        authenticated_users: "NT AUTHORITY\\Usuarios autentificados",
        system: "NT AUTHORITY\\SYSTEM",
        administrators: "BUILTIN\\Administradores",
        users: "BUILTIN\\Usuarios",
        creator_owner: "CREATOR OWNER",
        network_service: "NT AUTHORITY\\Servicio de red",
        summary: "Se procesaron correctamente 1 archivos; error al procesar 0 archivos",
    },
];

/// The same server in Finnish, a language the name tables do not know: only the SID listing
/// can tell who the entries are.
const UNKNOWN: Lang = Lang {
    code: "fi",
    authenticated_users: "NT AUTHORITY\\Todennetut käyttäjät",
    system: "NT AUTHORITY\\SYSTEM",
    administrators: "BUILTIN\\Järjestelmänvalvojat",
    users: "BUILTIN\\Käyttäjät",
    creator_owner: "CREATOR OWNER",
    network_service: "NT AUTHORITY\\VERKKOPALVELU",
    summary: "Käsiteltiin 1 tiedostoa; 0 tiedoston käsittely epäonnistui",
};

/// Entries as `(principal index, rights)`: 0 Authenticated Users, 1 SYSTEM, 2 Administrators,
/// 3 Users, 4 CREATOR OWNER, 5 NETWORK SERVICE, 6 a domain group whose name ends like Users.
type Entries = &'static [(usize, &'static str)];

const SIDS: [&str; 7] = [
    "S-1-5-11",
    "S-1-5-18",
    "S-1-5-32-544",
    "S-1-5-32-545",
    "S-1-3-0",
    "S-1-5-20",
    "S-1-5-21-3623811015-3361044348-30300820-1117",
];

/// A domain group, not all users, named like BUILTIN\Users in Finnish.
const DOMAIN_GROUP: &str = "CONTOSO\\Käyttäjät";

/// The healthy folders (as on the healthy sample).
const CA_HEALTHY: Entries = &[
    (0, "(OI)(CI)(RX)"),
    (1, "(I)(OI)(CI)(F)"),
    (2, "(I)(OI)(CI)(F)"),
    (4, "(I)(OI)(CI)(IO)(F)"),
    (3, "(I)(OI)(CI)(RX)"),
];
const AUTH_HEALTHY: Entries = &[
    (0, "(I)(OI)(CI)(RX)"),
    (1, "(I)(OI)(CI)(F)"),
    (2, "(I)(OI)(CI)(F)"),
    (4, "(I)(OI)(CI)(IO)(F)"),
    (3, "(I)(OI)(CI)(RX)"),
];
/// owa\auth with Authenticated Users left with Read only, inheritance cut.
const AUTH_READ_ONLY: Entries = &[
    (0, "(R)"),
    (1, "(OI)(CI)(F)"),
    (2, "(OI)(CI)(F)"),
    (4, "(OI)(CI)(IO)(F)"),
    (5, "(OI)(CI)(RX)"),
];

fn names(lang: &Lang) -> [&'static str; 7] {
    [
        lang.authenticated_users,
        lang.system,
        lang.administrators,
        lang.users,
        lang.creator_owner,
        lang.network_service,
        DOMAIN_GROUP,
    ]
}

/// The healthy sample with its ClientAccess and owa\auth listings (by name and by SID)
/// replaced by `lang`'s.
fn bundle(lang: &Lang, ca: Entries, auth: Entries) -> BundleBuilder {
    let mut b = exchange2010_sp2(false);
    let n = names(lang);
    let install = INSTALL_2010.trim_end_matches('\\');
    for (name, dir, entries) in [
        ("ClientAccess", format!("{install}\\ClientAccess"), ca),
        (
            "owa-auth",
            format!("{install}\\ClientAccess\\Owa\\auth"),
            auth,
        ),
    ] {
        let by_name: Vec<String> = entries
            .iter()
            .map(|(p, r)| format!("{}:{r}", n[*p]))
            .collect();
        let by_sid: Vec<String> = entries
            .iter()
            .map(|(p, r)| format!("{}:{r}", SIDS[*p]))
            .collect();
        b.file(
            &format!("system/acl/{name}.txt"),
            &format!("icacls {dir}"),
            utf8_bom_crlf(&icacls_listing(&dir, &by_name, lang.summary)),
        );
        // The collector writes its SID listing with the English closing line.
        b.file(
            &format!("system/acl/{name}-sid.txt"),
            &format!("Get-Acl {dir}"),
            utf8_bom_crlf(&icacls_listing(&dir, &by_sid, ICACLS_DONE)),
        );
    }
    b
}

fn analyse(b: &BundleBuilder) -> Diagnosis {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bundle.zip");
    std::fs::write(&zip, b.zip_bytes().unwrap()).unwrap();
    exhume::analyze(&zip, &exhume::Options::default())
        .unwrap()
        .diagnosis
}

/// Problems the analysis filed against the ACL listings (unknown lines, a missing close).
fn acl_problems(d: &Diagnosis) -> Vec<String> {
    d.problems
        .iter()
        .filter(|p| p.path.starts_with("system/acl/"))
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect()
}

#[test]
fn localised_healthy_acls_give_a_healthy_server() {
    for lang in LANGS.iter().chain([&UNKNOWN]) {
        let d = analyse(&bundle(lang, CA_HEALTHY, AUTH_HEALTHY));
        assert_eq!(acl_problems(&d), Vec::<String>::new(), "{}", lang.code);
        assert!(
            d.finding(RULE).is_none(),
            "{}: {:#?}",
            lang.code,
            d.finding(RULE)
        );
        assert_eq!(
            d.status,
            Status::Healthy,
            "{}: {} {:?}",
            lang.code,
            d.verdict,
            d.missing_evidence
        );
    }
}

#[test]
fn localised_read_only_owa_auth_is_found_by_name_and_by_sid() {
    for lang in LANGS.iter().chain([&UNKNOWN]) {
        let d = analyse(&bundle(lang, CA_HEALTHY, AUTH_READ_ONLY));
        assert_eq!(acl_problems(&d), Vec::<String>::new(), "{}", lang.code);
        assert_ne!(d.status, Status::Healthy, "{}: {}", lang.code, d.verdict);
        let f = d
            .finding(RULE)
            .unwrap_or_else(|| panic!("{}: read-only owa\\auth went unnoticed", lang.code));
        // Cited once, by the name the server printed where the tables know it, else by SID.
        let cited = if lang.code == UNKNOWN.code {
            ("system/acl/owa-auth-sid.txt:1", "S-1-5-11:(R)".to_string())
        } else {
            (
                "system/acl/owa-auth.txt:1",
                format!("{}:(R)", lang.authenticated_users),
            )
        };
        assert_eq!(f.evidence.len(), 1, "{}: {:#?}", lang.code, f.evidence);
        assert_eq!(f.evidence[0].locator.to_string(), cited.0, "{}", lang.code);
        assert!(f.title.contains(&cited.1), "{}: {}", lang.code, f.title);
        // One grant, on owa\auth only (ClientAccess is fine), naming Authenticated Users by
        // SID: valid on a server in any language.
        let grants: Vec<&str> = f
            .fix
            .iter()
            .filter_map(|a| a.command.as_deref().filter(|c| c.contains("/grant")))
            .collect();
        assert_eq!(grants.len(), 1, "{}: {grants:#?}", lang.code);
        assert!(
            grants[0].contains("\"*S-1-5-11:(OI)(CI)(RX)\""),
            "{}",
            grants[0]
        );
        assert!(
            grants[0].contains("ClientAccess\\Owa\\auth\""),
            "{}",
            grants[0]
        );
    }
}

#[test]
fn the_sid_listing_decides_when_the_names_are_unknown() {
    // Finnish names everywhere; on ClientAccess only a domain group named like "Users" has Read
    // & Execute. Its SID is no all-users SID, so the gap stands.
    const CA_GROUP_ONLY: Entries = &[(1, "(OI)(CI)(F)"), (2, "(OI)(CI)(F)"), (6, "(OI)(CI)(RX)")];
    let d = analyse(&bundle(&UNKNOWN, CA_GROUP_ONLY, AUTH_HEALTHY));
    let f = d
        .finding(RULE)
        .expect("ClientAccess without users went unnoticed");
    assert!(
        f.title.contains("no entry for Authenticated Users on"),
        "{}",
        f.title
    );
    assert_ne!(d.status, Status::Healthy);
    // The same folder with BUILTIN\Users (Käyttäjät, by SID S-1-5-32-545) is fine.
    const CA_USERS: Entries = &[(1, "(OI)(CI)(F)"), (2, "(OI)(CI)(F)"), (3, "(OI)(CI)(RX)")];
    let d = analyse(&bundle(&UNKNOWN, CA_USERS, AUTH_HEALTHY));
    assert!(d.finding(RULE).is_none(), "{:#?}", d.finding(RULE));
}
