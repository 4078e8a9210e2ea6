//! Writes the seed corpora into `fuzz/corpus/<target>/` from the sample generator, so that no
//! corpus is committed: `fuzz/run.sh` runs this first. Each seed is a real artefact (or bundle)
//! the target's parser accepts, so fuzzing starts from deep inside the formats.

use exhume_fuzz::{PIPELINE_PATHS, join_members};
use samplegen::scenarios::exchange2010_sp2;
use std::path::Path;

fn utf16le_bom(s: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

const REG: &str = "Windows Registry Editor Version 5.00\r\n\r\n\
[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\Setup]\r\n\
\"MsiInstallPath\"=\"D:\\\\Program Files\\\\Microsoft\\\\Exchange Server\\\\V14\\\\\"\r\n\
\"MsiProductMajor\"=dword:0000000e\r\n\"MsiBuildMajor\"=dword:000000f7\r\n\r\n\
[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\ClientAccessRole]\r\n\
\"ConfiguredVersion\"=\"14.1.218.15\"\r\n\"UnpackedVersion\"=\"14.2.247.5\"\r\n\
\"Watermark\"=\"Microsoft.Exchange.Management.Deployment.ServiceControl\"\r\n\"Action\"=\"BuildToBuildUpgrade\"\r\n\r\n\
[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\Old]\r\n\r\n";

const REG_SERVICES: &str = "REGEDIT4\r\n\r\n\
[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeServiceHost]\r\n\
\"Start\"=dword:00000004\r\n\"DependOnService\"=hex(7):52,00,50,00,43,00,53,00,53,00,00,00,00,00\r\n\
\"ImagePath\"=hex(2):22,00,44,00,3a,00,5c,00,00,00\r\n\"DisplayName\"=\"Microsoft Exchange Service Host\"\r\n\
\"Description\"=\"multi \\\r\n  line\"\r\n\"Blob\"=hex:01,02,\\\r\n  03\r\n\"Gone\"=-\r\n@=\"default\"\r\n\r\n";

const APPHOST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<configuration>\r\n\
  <system.applicationHost>\r\n    <applicationPools>\r\n\
      <applicationPoolDefaults managedRuntimeVersion=\"v2.0\"><processModel identityType=\"NetworkService\" /></applicationPoolDefaults>\r\n\
      <add name=\"MSExchangeOWAAppPool\" managedRuntimeVersion=\"v2.0\" autoStart=\"true\">\r\n\
        <processModel identityType=\"LocalSystem\" />\r\n      </add>\r\n\
      <add name=\"MSExchangeSyncAppPool\" autoStart=\"false\" enable32BitAppOnWin64=\"true\" />\r\n\
    </applicationPools>\r\n    <sites>\r\n      <site name=\"Default Web Site\" id=\"1\">\r\n\
        <application path=\"/owa\" applicationPool=\"MSExchangeOWAAppPool\">\r\n\
          <virtualDirectory path=\"/\" physicalPath=\"D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\owa\" />\r\n\
        </application>\r\n      </site>\r\n    </sites>\r\n  </system.applicationHost>\r\n\
  <system.webServer>\r\n    <globalModules>\r\n\
      <add name=\"exppw\" image=\"%ExchangeInstallDir%ClientAccess\\Owa\\auth\\exppw.dll\" />\r\n\
    </globalModules>\r\n    <modules><add name=\"exppw\" /></modules>\r\n  </system.webServer>\r\n\
  <location path=\"Default Web Site/owa\">\r\n    <system.webServer>\r\n\
      <modules><remove name=\"exppw\" /><add name=\"OwaModule\" /></modules>\r\n\
      <security><authentication><basicAuthentication enabled=\"true\" /><windowsAuthentication enabled=\"false\" /></authentication></security>\r\n\
      <httpRedirect enabled=\"true\" destination=\"/owa\" />\r\n    </system.webServer>\r\n  </location>\r\n</configuration>\r\n";

fn web_config(bin: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <system.webServer>\r\n\
    <modules><add name=\"exppw\" type=\"x\" /></modules>\r\n  </system.webServer>\r\n  <runtime>\r\n\
    <assemblyBinding xmlns=\"urn:schemas-microsoft-com:asm.v1\">\r\n      <dependentAssembly>\r\n\
        <assemblyIdentity name=\"Microsoft.Exchange.Diagnostics\" publicKeyToken=\"31bf3856ad364e35\" />\r\n\
        <codeBase version=\"14.0.0.0\" href=\"file:///{bin}Microsoft.Exchange.Diagnostics.dll\" />\r\n\
      </dependentAssembly>\r\n    </assemblyBinding>\r\n  </runtime>\r\n\
  <appSettings><add key=\"X\" value=\"%ExchangeInstallDir%bin\\\" /></appSettings>\r\n</configuration>\r\n"
    )
}

const SOFTWARE: &str = "\"Name\",\"Version\",\"Publisher\",\"InstallDate\",\"Source\"\r\n\
\"Microsoft Exchange Server 2010\",\"14.2.247.5\",\"Microsoft Corporation\",\"20120212\",\"uninstall\"\r\n\
\"Symantec Endpoint Protection\",\"12.1\",\"Symantec\",\"\",\"av-service:SepMasterService (Running, Auto)\"\r\n";
const VERSIONS: &str = "#TYPE Selected.System.Diagnostics.FileVersionInfo\r\n\"Path\",\"FileVersion\",\"ProductVersion\"\r\n\
\"D:\\Program Files\\Microsoft\\Exchange Server\\V14\\Bin\\ExSetup.exe\",\"14.02.0247.005\",\"14.02.0247.005\"\r\n";
const INVENTORY: &str = "\"RelativePath\",\"Length\",\"LastWriteTimeUtc\"\r\n\
\"Bin\\ExSetup.exe\",\"35128\",\"2012-02-12T10:20:01Z\"\r\n\
\"ClientAccess\\Owa\\auth\\exppw.dll.old\",\"91512\",\"2012-02-12T10:21:44Z\"\r\n\
\"Bin\\ConsoleInitialize.ps1.txt\",\"\"\"quoted\"\"\r\nmultiline\",\"x\"\r\n";
const ACL: &str = "D:\\Program Files\\Microsoft\\Exchange Server\\V14 NT AUTHORITY\\SYSTEM:(OI)(CI)(F)\r\n\
                                                  BUILTIN\\Administrators:(OI)(CI)(F)\r\n\
                                                  Everyone:(DENY)(W)\r\n\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n";
const HOST: &str = "{\"computer_name\":\"EX01\",\"os\":{\"caption\":\"Windows Server 2008 R2\",\"version\":\"6.1.7601\"},\
\"pending_reboot\":{\"any\":true,\"component_based_servicing\":false,\"pending_file_rename\":true},\
\"dotnet\":{\"release\":378389},\"uptime_hours\":12.5}";
const COLLECTOR: &str = "2012-02-13T23:05:12Z collector 1.0 started\r\n2012-02-13T23:05:14Z ERROR cannot export evtx/System.evtx: access denied\r\n";

/// The first `head` and last `tail` bytes of a log, cut at line ends: a short log with a run's
/// banner and its ending, small enough for fast executions.
fn trim_log(bytes: &[u8], head: usize, tail: usize) -> Vec<u8> {
    if bytes.len() <= head + tail {
        return bytes.to_vec();
    }
    let h = bytes[head..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| head + i + 1);
    let t = bytes[..bytes.len() - tail]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let mut out = bytes[..h].to_vec();
    if t > h {
        out.extend_from_slice(&bytes[t..]);
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus folder");
    std::fs::write(dir.join(name), bytes).expect("seed");
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let out = Path::new(&out);
    let seed = exchange2010_sp2(true);
    let healthy = exchange2010_sp2(false);

    for (name, b) in [("seed", &seed), ("healthy", &healthy)] {
        write(
            &out.join("bundle_zip"),
            &format!("{name}.zip"),
            &b.zip_bytes().expect("zip"),
        );
        for (p, bytes) in b.contents() {
            match p.as_str() {
                "manifest.json" => write(&out.join("manifest"), &format!("{name}.json"), &bytes),
                "setup/ExchangeSetup.log" => {
                    let short = trim_log(&bytes, 6_000, 10_000);
                    write(&out.join("setup_log"), &format!("{name}.log"), &short);
                    // The same log as UTF-16LE, as some copies arrive.
                    let text = String::from_utf8_lossy(&short);
                    write(
                        &out.join("setup_log"),
                        &format!("{name}-utf16.log"),
                        &utf16le_bom(&text),
                    );
                }
                p if p.ends_with(".evtx") => {
                    // Chunks of the logs the EVTX writer made for the sample.
                    for (i, chunk) in bytes
                        .get(4096..)
                        .unwrap_or(&[])
                        .chunks(65536)
                        .take(4)
                        .enumerate()
                    {
                        let file = p.trim_start_matches("evtx/").trim_end_matches(".evtx");
                        write(&out.join("evtx_scan"), &format!("{name}-{file}-{i}"), chunk);
                    }
                }
                "system/services.csv" => {
                    let mut v = vec![0u8];
                    v.extend_from_slice(&bytes);
                    write(&out.join("csv"), &format!("services-{name}.csv"), &v);
                }
                _ => {}
            }
        }
    }
    // Chunks of real Windows logs (real templates), when the shared corpus is there.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/evtx-corpus");
    for file in [
        "plaso/System.evtx",
        "omerbenamram-evtx/security.evtx",
        "omerbenamram-evtx/sysmon.evtx",
        "omerbenamram-evtx/MSExchange_Management_wec.evtx",
    ] {
        if let Ok(bytes) = std::fs::read(corpus.join(file)) {
            let stem = file.replace(['/', '.'], "-");
            for (i, chunk) in bytes
                .get(4096..)
                .unwrap_or(&[])
                .chunks(65536)
                .take(3)
                .enumerate()
            {
                write(&out.join("evtx_scan"), &format!("corpus-{stem}-{i}"), chunk);
            }
        }
    }
    // A mixed zip with one member of each kind, deflated and stored.
    let mut mixed = samplegen::BundleBuilder::new();
    mixed.file(
        "registry/ExchangeServer.reg",
        "reg export",
        utf16le_bom(REG),
    );
    mixed.file(
        "iis/applicationHost.config",
        "copy",
        APPHOST.as_bytes().to_vec(),
    );
    mixed.file("system/software.csv", "cim", SOFTWARE.as_bytes().to_vec());
    mixed.manifest(Some(samplegen::scenarios::manifest_2010()));
    write(
        &out.join("bundle_zip"),
        "mixed.zip",
        &mixed.zip_bytes().expect("zip"),
    );
    write(
        &out.join("manifest"),
        "minimal.json",
        br#"{"schema_version":"1.0"}"#,
    );

    write(&out.join("reg"), "exchange-utf16.reg", &utf16le_bom(REG));
    write(&out.join("reg"), "exchange-utf8.reg", REG.as_bytes());
    write(
        &out.join("reg"),
        "services-regedit4.reg",
        REG_SERVICES.as_bytes(),
    );
    write(
        &out.join("apphost"),
        "applicationHost.config",
        APPHOST.as_bytes(),
    );
    write(
        &out.join("apphost"),
        "applicationHost-utf16.config",
        &utf16le_bom(APPHOST),
    );
    let live = web_config("D:\\Program Files\\Microsoft\\Exchange Server\\V14\\bin\\");
    let bak = web_config("%ExchangeInstallDir%bin\\");
    write(
        &out.join("webconfig"),
        "absent",
        &[[0u8].as_slice(), bak.as_bytes()].concat(),
    );
    write(
        &out.join("webconfig"),
        "is-backup",
        &[[1u8].as_slice(), bak.as_bytes()].concat(),
    );
    let sibling = [
        [2u8].as_slice(),
        live.as_bytes(),
        exhume_fuzz::MEMBER_SEP,
        bak.as_bytes(),
    ]
    .concat();
    write(&out.join("webconfig"), "sibling", &sibling);
    for (i, text) in [SOFTWARE, VERSIONS, INVENTORY].iter().enumerate() {
        let mut v = vec![(i + 1) as u8];
        v.extend_from_slice(text.as_bytes());
        write(&out.join("csv"), &format!("csv-{i}"), &v);
    }

    // Pipeline: each sample's members, then the sample plus one member of every other kind.
    let index = |p: &str| PIPELINE_PATHS.iter().position(|q| *q == p);
    let extra: Vec<(&str, Vec<u8>)> = vec![
        ("setup/ServiceControl.log", b"[15:44:20] * ServiceControl.ps1: 11.03.2012 15:44:20\r\n[15:44:30] Stopping service 'WinMgmt'.\r\n".to_vec()),
        ("registry/ExchangeServer.reg", utf16le_bom(REG)),
        ("registry/Services.reg", REG_SERVICES.as_bytes().to_vec()),
        ("iis/applicationHost.config", APPHOST.as_bytes().to_vec()),
        ("iis/webconfig/ClientAccess/Owa/web.config", live.as_bytes().to_vec()),
        ("iis/webconfig/ClientAccess/Owa/web.config.bak", bak.as_bytes().to_vec()),
        ("system/software.csv", SOFTWARE.as_bytes().to_vec()),
        ("system/file-versions.csv", VERSIONS.as_bytes().to_vec()),
        ("system/inventory.csv", INVENTORY.as_bytes().to_vec()),
        ("system/acl/ExchangeInstallDir.txt", ACL.as_bytes().to_vec()),
        ("system/host.json", HOST.as_bytes().to_vec()),
        ("collector.log", COLLECTOR.as_bytes().to_vec()),
    ];
    for (name, b) in [("seed", &seed), ("healthy", &healthy)] {
        // Short members replace long ones before the manifest is written, so its hashes match
        // and the healthy seed reaches the healthy verdict.
        let mut short = (*b).clone();
        for (p, bytes) in b.contents() {
            if p != "manifest.json" && bytes.len() > 16_000 {
                short.file(&p, "trimmed seed", trim_log(&bytes, 6_000, 10_000));
            }
        }
        let contents = short.contents();
        let own: Vec<(usize, &[u8])> = contents
            .iter()
            .filter_map(|(p, bytes)| Some((index(p)?, bytes.as_slice())))
            .collect();
        write(&out.join("pipeline"), name, &join_members(&own));
        let mut all = own.clone();
        all.extend(
            extra
                .iter()
                .filter_map(|(p, bytes)| Some((index(p)?, bytes.as_slice()))),
        );
        write(
            &out.join("pipeline"),
            &format!("{name}-all-kinds"),
            &join_members(&all),
        );
    }
}
