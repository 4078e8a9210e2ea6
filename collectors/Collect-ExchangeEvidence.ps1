<#
.SYNOPSIS
    Collects the evidence exhume needs to explain a failed Exchange setup, service pack or
    cumulative update, into one zip to send to the engineer analysing the failure.

.DESCRIPTION
    Run it once, from an elevated PowerShell prompt, on the Exchange server whose setup failed:

        powershell -NoProfile -ExecutionPolicy Bypass -File .\Collect-ExchangeEvidence.ps1

    (-NoProfile: a profile that connects to Exchange would hang on a broken server.)

    It works on Windows PowerShell 2.0 (Windows Server 2008 R2 with Exchange 2010) up to 5.1,
    needs no module, and does not need Exchange to be running: it finds Exchange (2010 = v14,
    2013 to SE = v15) and its install path in the registry. When the Exchange Management Shell
    snap-in loads, it also records what Get-ExchangeServer says; when it does not, nothing is lost.

    It only reads: no service, registry key, IIS setting or file of the server is changed. It
    writes into one folder of its own, exhume-<COMPUTERNAME>-<UTC time>, created under
    -OutputPath (never under %windir%), and nothing else. It checks the free space first and
    never collects more than -MaxSizeMB; each staged file is deleted as soon as it is zipped.
    Secrets are removed while copying: machineKey validationKey/decryptionKey and connection-
    string passwords become REMOVED-BY-COLLECTOR (method copy-redacted in the manifest).

    What it collects (the layout is the bundle contract, docs/bundle-format.md):
      setup/        C:\ExchangeSetupLogs: ExchangeSetup*.log, other *.log, *.msilog, ServiceState.xml
      registry/     reg export of HKLM\SOFTWARE\Microsoft\ExchangeServer, IIS (InetStp) and of the
                    Exchange and IIS service keys under HKLM\SYSTEM\CurrentControlSet\Services
      iis/          applicationHost.config, and every web.config, web.config.bak and
                    SharedWebConfig.config under <install>\ClientAccess and <install>\FrontEnd
      evtx/         wevtutil epl of Application, System, the MSExchange* channels and Windows
                    Defender; wevtutil al message metadata in evtx/LocaleMetaData
      system/       services.csv, software.csv (programs and antivirus), file-versions.csv,
                    inventory.csv (every file under the install dir), acl/*.txt (icacls), host.json
      manifest.json every file with its source, size and SHA-256, and what could not be collected
      collector.log what the collector did, with every warning and error

    One failure never stops the collection: it is written to collector.log and to the manifest's
    not_collected list, and the collection goes on.

    The zip is written by the collector itself (entry names always use '/'): by a small C# helper
    compiled with Add-Type (Deflate, or stored when Deflate does not help), or, where Add-Type is
    not allowed, by plain PowerShell (stored, slower). If neither works, the staging folder is
    kept and can be zipped by hand: exhume reads a folder as well as a zip.

.PARAMETER OutputPath
    Folder under which the collector creates its own dated folder (exhume-<COMPUTERNAME>-<UTC
    time>) holding the staging folder and the zip. Default: the folder of the script. A folder
    under %windir% (such as C:\Windows\System32, the current folder of an elevated prompt) is
    refused.

.PARAMETER Days
    Export only the last N days of each event log (0, the default, exports the whole log). Setup
    logs are always collected whole, up to the size bound.

.PARAMETER MaxSizeMB
    Upper bound, in MB, on what is collected before compression (default 1024). Huge setup logs
    keep their newest part (marked "truncated" in the manifest); event logs that do not fit are
    exported again for the last 30, 7 and then 1 day; what still does not fit is listed as not
    collected.

.PARAMETER SkipExchangeShell
    Do not try to load the Exchange Management Shell snap-in (by default it is tried in a
    background job, for at most two minutes).

.PARAMETER KeepStaging
    Keep the staging folder next to the zip.

.EXAMPLE
    powershell -NoProfile -ExecutionPolicy Bypass -File .\Collect-ExchangeEvidence.ps1

    Collects everything into exhume-<COMPUTERNAME>-<yyyyMMddTHHmmssZ>\<COMPUTERNAME>-<yyyyMMddTHHmmssZ>-exhume.zip
    beside the script.

.EXAMPLE
    .\Collect-ExchangeEvidence.ps1 -OutputPath D:\Support -Days 14 -MaxSizeMB 512

    Writes the zip under D:\Support\exhume-<COMPUTERNAME>-<time>, with the last 14 days of event logs, at most 512 MB collected.

.EXAMPLE
    Get-Help .\Collect-ExchangeEvidence.ps1 -Full

    Shows this help.

.INPUTS
    None.

.OUTPUTS
    System.IO.FileInfo of the zip written (nothing when no zip could be written).

.NOTES
    Collector version 1.1.0, bundle schema 1.0. Needs an elevated prompt (some artefacts,
    such as fltmc and parts of the registry, are only readable by administrators; without
    elevation they are listed as not collected).

    The bundle holds server configuration and logs; see docs/collector.md for the personal data
    it may contain (user and administrator account names, mailbox database and server names,
    IP addresses and host names in event logs).

.LINK
    docs/collector.md

.LINK
    docs/bundle-format.md
#>

#Requires -Version 2.0

[CmdletBinding()]
param(
    [string]$OutputPath = '',

    [ValidateRange(0, 3650)]
    [int]$Days = 0,

    [ValidateRange(16, 3900)]
    [int]$MaxSizeMB = 1024,

    [switch]$SkipExchangeShell,

    [switch]$KeepStaging
)

# A profile may have turned strict mode on: reading a property a registry key or WMI object
# lacks would then throw. The script is written for strict mode off.
Set-StrictMode -Off

# ----------------------------------------------------------------------------------------------
# A 32-bit PowerShell on a 64-bit Windows sees the WOW6432Node registry view and a redirected
# System32, where Exchange cannot be found: start again in the 64-bit PowerShell.
# ----------------------------------------------------------------------------------------------
if ($env:PROCESSOR_ARCHITEW6432 -eq 'AMD64' -and [IntPtr]::Size -eq 4) {
    $native64 = Join-Path $env:windir 'sysnative\WindowsPowerShell\v1.0\powershell.exe'
    if (Test-Path -LiteralPath $native64) {
        $relaunch = @('-NoProfile', '-ExecutionPolicy', 'Bypass', '-File', $MyInvocation.MyCommand.Path)
        foreach ($key in @($PSBoundParameters.Keys)) {
            $value = $PSBoundParameters[$key]
            if ($value -is [System.Management.Automation.SwitchParameter]) {
                if ($value.IsPresent) { $relaunch += ('-' + $key) }
            }
            else {
                # "D:\A B\" would reach the child as D:\A B" (the \" escapes the quote).
                $text = [string]$value
                if ($text.EndsWith('\')) { $text += '.' }
                $relaunch += ('-' + $key)
                $relaunch += $text
            }
        }
        Write-Host 'Restarting in the 64-bit Windows PowerShell...'
        & $native64 @relaunch
        exit $LASTEXITCODE
    }
}

$ErrorActionPreference = 'Continue'

$script:CollectorName = 'Collect-ExchangeEvidence.ps1'
$script:CollectorVersion = '1.1.0'
$script:SchemaVersion = '1.0'
$script:Activity = 'Collecting Exchange evidence for exhume'
$script:Invariant = [System.Globalization.CultureInfo]::InvariantCulture
$script:Utf8NoBom = New-Object System.Text.UTF8Encoding($false)
$script:Utf8Bom = New-Object System.Text.UTF8Encoding($true)
$script:Days = $Days
$script:BudgetBytes = [long]$MaxSizeMB * 1048576
$script:UsedBytes = [long]0
$script:Files = New-Object System.Collections.ArrayList
$script:ZipItems = New-Object System.Collections.ArrayList
$script:NotCollected = New-Object System.Collections.ArrayList
$script:Skipped = New-Object System.Collections.ArrayList
$script:SetupOffsets = New-Object System.Collections.ArrayList
$script:KeepStaging = [bool]$KeepStaging
$script:Redacted = 'REMOVED-BY-COLLECTOR'
$script:MarginBytes = [long]512 * 1048576
$script:PendingLog = New-Object System.Collections.ArrayList
$script:LogPath = $null
$script:Staging = $null
$script:StepIndex = 0
$script:StepCount = 14
$script:Exchange = $null
$script:Services = $null

# ==============================================================================================
# Logging and bookkeeping
# ==============================================================================================

function Get-UtcStamp {
    param([string]$Format = "yyyy-MM-dd'T'HH:mm:ss'Z'")
    [DateTime]::UtcNow.ToString($Format, $script:Invariant)
}

function Write-CollectorLog {
    # Levels: INFO for what was done; SKIP for a gap expected on this server (no IIS on an Edge
    # server, no ClientAccess folder, no Exchange shell, fltmc unelevated); WARN and ERROR only
    # for what went wrong, because exhume reports every WARN and ERROR line as a problem.
    param(
        [ValidateSet('INFO', 'SKIP', 'WARN', 'ERROR')]
        [string]$Level,
        [string]$Message
    )
    $line = '{0} {1,-5} {2}' -f (Get-UtcStamp "yyyy-MM-dd'T'HH:mm:ss.fff'Z'"), $Level, $Message
    if ($script:LogPath) {
        try { [System.IO.File]::AppendAllText($script:LogPath, $line + "`r`n", $script:Utf8NoBom) }
        catch { [void]$script:PendingLog.Add($line) }
    }
    else {
        [void]$script:PendingLog.Add($line)
    }
    if ($Level -eq 'INFO' -or $Level -eq 'SKIP') { Write-Verbose $Message } else { Write-Warning $Message }
}

function Add-Skipped {
    # An artefact this server does not have, by its role or setup: logged as SKIP and listed in
    # the manifest's "skipped", not in "not_collected" (it is no missing evidence).
    param([string]$What, [string]$Why)
    $entry = New-Object System.Collections.Specialized.OrderedDictionary
    $entry['what'] = $What
    $entry['why'] = $Why
    [void]$script:Skipped.Add($entry)
    Write-CollectorLog -Level 'SKIP' -Message ('skipped: {0}: {1}' -f $What, $Why)
}

function Add-NotCollected {
    param([string]$What, [string]$Why)
    $entry = New-Object System.Collections.Specialized.OrderedDictionary
    $entry['what'] = $What
    $entry['why'] = $Why
    [void]$script:NotCollected.Add($entry)
    Write-CollectorLog -Level 'ERROR' -Message ('not collected: {0}: {1}' -f $What, $Why)
}

function Invoke-Step {
    # Runs one collection step; whatever it throws is recorded and the collection goes on.
    param([string]$Name, [scriptblock]$Action)
    $script:StepIndex++
    $percent = [int][Math]::Min(99, 100 * ($script:StepIndex - 1) / $script:StepCount)
    Write-Progress -Activity $script:Activity -Status $Name -PercentComplete $percent
    Write-CollectorLog -Level 'INFO' -Message ('step {0}/{1}: {2}' -f $script:StepIndex, $script:StepCount, $Name)
    try {
        & $Action | Out-Null
    }
    catch {
        Add-NotCollected -What $Name -Why ('step failed: ' + $_.Exception.Message)
    }
}

function Get-RemainingBudget {
    $left = $script:BudgetBytes - $script:UsedBytes
    if ($left -lt 0) { return [long]0 }
    [long]$left
}

function Format-Size {
    param([long]$Bytes)
    if ($Bytes -ge 1048576) { return ('{0:N1} MB' -f ($Bytes / 1048576)) }
    if ($Bytes -ge 1024) { return ('{0:N1} KB' -f ($Bytes / 1024)) }
    '{0} bytes' -f $Bytes
}

# ==============================================================================================
# Hashing, JSON and CSV without anything newer than .NET 2.0
# ==============================================================================================

function New-Sha256 {
    # SHA256Managed is refused when the FIPS policy is on; the CSP variant (.NET 3.5) is not.
    try { return New-Object System.Security.Cryptography.SHA256Managed -ErrorAction Stop }
    catch {
        try { [void][System.Reflection.Assembly]::LoadWithPartialName('System.Core') } catch { }
        return New-Object System.Security.Cryptography.SHA256CryptoServiceProvider -ErrorAction Stop
    }
}

function Open-SharedRead {
    # Logs and event files may be held open by the service writing them.
    param([string]$Path)
    [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]'ReadWrite, Delete')
}

function Get-Sha256Hex {
    param([string]$Path)
    $sha = New-Sha256
    $stream = Open-SharedRead -Path $Path
    try { $bytes = $sha.ComputeHash($stream) }
    finally { $stream.Close(); $sha.Clear() }
    $sb = New-Object System.Text.StringBuilder 64
    foreach ($b in $bytes) { [void]$sb.Append($b.ToString('x2')) }
    $sb.ToString()
}

function ConvertTo-JsonString {
    # A JSON string literal: quotes, backslashes and control characters escaped; an unpaired
    # UTF-16 surrogate (possible in Windows file names) becomes U+FFFD so the JSON stays valid.
    param([string]$Text)
    if ($null -eq $Text) { return 'null' }
    $sb = New-Object System.Text.StringBuilder ($Text.Length + 8)
    [void]$sb.Append('"')
    for ($i = 0; $i -lt $Text.Length; $i++) {
        $c = [int]$Text[$i]
        if ($c -eq 34) { [void]$sb.Append('\"') }
        elseif ($c -eq 92) { [void]$sb.Append('\\') }
        elseif ($c -eq 10) { [void]$sb.Append('\n') }
        elseif ($c -eq 13) { [void]$sb.Append('\r') }
        elseif ($c -eq 9) { [void]$sb.Append('\t') }
        elseif ($c -eq 8) { [void]$sb.Append('\b') }
        elseif ($c -eq 12) { [void]$sb.Append('\f') }
        elseif ($c -lt 32) { [void]$sb.Append(('\u{0:x4}' -f $c)) }
        elseif ($c -ge 0xD800 -and $c -le 0xDBFF) {
            if ($i + 1 -lt $Text.Length -and [int]$Text[$i + 1] -ge 0xDC00 -and [int]$Text[$i + 1] -le 0xDFFF) {
                [void]$sb.Append($Text[$i])
                [void]$sb.Append($Text[$i + 1])
                $i++
            }
            else { [void]$sb.Append('\ufffd') }
        }
        elseif ($c -ge 0xDC00 -and $c -le 0xDFFF) { [void]$sb.Append('\ufffd') }
        else { [void]$sb.Append($Text[$i]) }
    }
    [void]$sb.Append('"')
    $sb.ToString()
}

function Add-JsonValue {
    # Appends $Value as JSON to $Builder. Dictionaries keep their key order (OrderedDictionary).
    param([System.Text.StringBuilder]$Builder, $Value, [int]$Indent = 0)
    $pad = ' ' * (2 * ($Indent + 1))
    $end = ' ' * (2 * $Indent)
    if ($null -eq $Value) { [void]$Builder.Append('null'); return }
    if ($Value -is [string] -or $Value -is [char]) { [void]$Builder.Append((ConvertTo-JsonString -Text ([string]$Value))); return }
    if ($Value -is [System.Management.Automation.SwitchParameter]) { $Value = $Value.IsPresent }
    if ($Value -is [bool]) {
        if ($Value) { [void]$Builder.Append('true') } else { [void]$Builder.Append('false') }
        return
    }
    if ($Value -is [DateTime]) {
        [void]$Builder.Append((ConvertTo-JsonString -Text ($Value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $script:Invariant))))
        return
    }
    if ($Value -is [int] -or $Value -is [long] -or $Value -is [int16] -or $Value -is [byte] -or
        $Value -is [sbyte] -or $Value -is [uint16] -or $Value -is [uint32] -or $Value -is [uint64]) {
        [void]$Builder.Append($Value.ToString($script:Invariant))
        return
    }
    if ($Value -is [double] -or $Value -is [single] -or $Value -is [decimal]) {
        $d = [double]$Value
        if ([double]::IsNaN($d) -or [double]::IsInfinity($d)) { [void]$Builder.Append('null') }
        else { [void]$Builder.Append($d.ToString('R', $script:Invariant)) }
        return
    }
    if ($Value -is [System.Collections.IDictionary]) {
        if ($Value.Count -eq 0) { [void]$Builder.Append('{}'); return }
        [void]$Builder.Append("{`n")
        $first = $true
        foreach ($key in @($Value.Keys)) {
            if (-not $first) { [void]$Builder.Append(",`n") }
            $first = $false
            [void]$Builder.Append($pad)
            [void]$Builder.Append((ConvertTo-JsonString -Text ([string]$key)))
            [void]$Builder.Append(': ')
            Add-JsonValue -Builder $Builder -Value $Value[$key] -Indent ($Indent + 1)
        }
        [void]$Builder.Append("`n" + $end + '}')
        return
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        $items = @($Value)
        if ($items.Count -eq 0) { [void]$Builder.Append('[]'); return }
        [void]$Builder.Append("[`n")
        for ($i = 0; $i -lt $items.Count; $i++) {
            if ($i -gt 0) { [void]$Builder.Append(",`n") }
            [void]$Builder.Append($pad)
            Add-JsonValue -Builder $Builder -Value $items[$i] -Indent ($Indent + 1)
        }
        [void]$Builder.Append("`n" + $end + ']')
        return
    }
    [void]$Builder.Append((ConvertTo-JsonString -Text ([string]$Value)))
}

function ConvertTo-JsonText {
    param($Value)
    $sb = New-Object System.Text.StringBuilder 4096
    Add-JsonValue -Builder $sb -Value $Value -Indent 0
    [void]$sb.Append("`n")
    $sb.ToString()
}

function New-OrderedMap {
    New-Object System.Collections.Specialized.OrderedDictionary
}

function ConvertTo-CsvField {
    param($Value)
    if ($null -eq $Value) { return '""' }
    '"' + ([string]$Value).Replace('"', '""') + '"'
}

function Write-CsvFile {
    # The shape of Export-Csv -NoTypeInformation (every field quoted, UTF-8 with BOM, CRLF), the
    # same on every PowerShell version. Rows are dictionaries keyed by column name.
    param([string]$Path, [string[]]$Columns, $Rows)
    $writer = New-Object System.IO.StreamWriter($Path, $false, $script:Utf8Bom) -ErrorAction Stop
    try {
        $writer.NewLine = "`r`n"
        $head = @()
        foreach ($c in $Columns) { $head += (ConvertTo-CsvField -Value $c) }
        $writer.WriteLine([string]::Join(',', $head))
        foreach ($row in @($Rows)) {
            if ($null -eq $row) { continue }
            $fields = @()
            foreach ($c in $Columns) { $fields += (ConvertTo-CsvField -Value $row[$c]) }
            $writer.WriteLine([string]::Join(',', $fields))
        }
    }
    finally { $writer.Close() }
}

function Write-TextFile {
    param([string]$Path, [string]$Text)
    [System.IO.File]::WriteAllText($Path, $Text, $script:Utf8Bom)
}

# ==============================================================================================
# The bundle: every file enters it through Copy-ToBundle or Save-ToBundle, whose -BundlePath is a
# literal template from the bundle contract (src/bundle/layout.rs). The contract test in
# tests/collector.rs reads those literals, so keep them literal.
# ==============================================================================================

function Resolve-BundlePath {
    # Fills {Name} placeholders. A placeholder whose name ends in Dir may span folders (its '\'
    # become '/'); any other is one path segment, so separators and ':' in it become '_'. Only a
    # placeholder whose name ends in Suffix may be empty.
    param([string]$Template, [hashtable]$Values)
    $result = $Template
    if ($Values) {
        foreach ($key in @($Values.Keys)) {
            $value = [string]$Values[$key]
            if ($key -like '*Dir') {
                $parts = @($value -split '[\\/]+' | Where-Object { $_ -ne '' -and $_ -ne '.' })
                foreach ($p in $parts) { if ($p -eq '..') { throw ('".." in bundle path value: ' + $value) } }
                $value = [string]::Join('/', $parts)
            }
            else {
                $value = $value -replace '[\\/:*?"<>|]', '_'
            }
            if ($value -eq '' -and $key -notlike '*Suffix') { throw ('empty value for {' + $key + '} in ' + $Template) }
            $result = $result.Replace('{' + $key + '}', $value)
        }
    }
    if ($result -match '\{[A-Za-z]+\}') { throw ('unfilled placeholder in bundle path ' + $result) }
    $result
}

function Get-StagingPath {
    param([string]$Name)
    $full = Join-Path $script:Staging ($Name.Replace('/', '\'))
    $parent = Split-Path -Parent $full
    if (-not (Test-Path -LiteralPath $parent)) { [void][System.IO.Directory]::CreateDirectory($parent) }
    $full
}

function Register-BundleFile {
    # Records a staged file for the manifest and the zip. Only the two helpers below call it.
    param(
        [string]$Name,
        [string]$Target,
        [string]$Source,
        [string]$Method,
        [bool]$Truncated = $false,
        [bool]$Unlisted = $false,
        [bool]$NoBudget = $false
    )
    if (-not (Test-Path -LiteralPath $Target)) {
        Add-NotCollected -What $Name -Why ('nothing was written (source: ' + $Source + ')')
        return $false
    }
    $info = Get-Item -LiteralPath $Target -Force
    foreach ($existing in $script:ZipItems) {
        if ($existing['name'] -eq $Name) {
            Write-CollectorLog -Level 'WARN' -Message ('{0} was collected twice; the second copy replaces the first' -f $Name)
            $script:UsedBytes -= $existing['size']
            [void]$script:ZipItems.Remove($existing)
            foreach ($f in @($script:Files)) { if ($f['path'] -eq $Name) { [void]$script:Files.Remove($f) } }
            break
        }
    }
    if (-not $NoBudget -and ($script:UsedBytes + $info.Length) -gt $script:BudgetBytes) {
        Remove-Item -LiteralPath $Target -Force -ErrorAction SilentlyContinue
        Add-NotCollected -What $Name -Why ('{0} would exceed the -MaxSizeMB bound ({1} left); rerun with a larger -MaxSizeMB or a smaller -Days' -f (Format-Size $info.Length), (Format-Size (Get-RemainingBudget)))
        return $false
    }
    # Hashed before it is listed: a file that cannot be read (an antivirus lock, an I/O error)
    # is left out whole, and the zip never lists a file that is gone.
    $sha = $null
    if (-not $Unlisted) {
        try { $sha = Get-Sha256Hex -Path $Target }
        catch {
            Remove-Item -LiteralPath $Target -Force -ErrorAction SilentlyContinue
            Add-NotCollected -What $Name -Why ('the staged copy could not be hashed: ' + $_.Exception.Message)
            return $false
        }
    }
    $item = New-OrderedMap
    $item['name'] = $Name
    $item['target'] = $Target
    $item['size'] = [long]$info.Length
    $item['time'] = $info.LastWriteTime
    [void]$script:ZipItems.Add($item)
    if (-not $Unlisted) {
        $entry = New-OrderedMap
        $entry['path'] = $Name
        $entry['source'] = $Source
        $entry['size'] = [long]$info.Length
        $entry['sha256'] = $sha
        $entry['method'] = $Method
        $entry['truncated'] = [bool]$Truncated
        [void]$script:Files.Add($entry)
        $script:UsedBytes += $info.Length
        $note = ''
        if ($Truncated) { $note = ', truncated' }
        Write-CollectorLog -Level 'INFO' -Message ('collected {0} ({1}, {2}{3}) from {4}' -f $Name, (Format-Size $info.Length), $Method, $note, $Source)
    }
    $true
}

function Copy-FileTail {
    # Newest-first truncation: keeps the byte-order mark, then the last $MaxBytes bytes of the
    # file starting at a line boundary, so the newest setup runs are kept whole. A log still
    # being written is copied up to the length it had when opened.
    param([string]$Source, [string]$Target, [long]$MaxBytes)
    $in = Open-SharedRead -Path $Source
    try {
        $length = $in.Length
        $head = New-Object byte[] 3
        $got = $in.Read($head, 0, 3)
        $bom = 0
        $unit = 1
        if ($got -ge 3 -and $head[0] -eq 0xEF -and $head[1] -eq 0xBB -and $head[2] -eq 0xBF) { $bom = 3 }
        elseif ($got -ge 2 -and (($head[0] -eq 0xFF -and $head[1] -eq 0xFE) -or ($head[0] -eq 0xFE -and $head[1] -eq 0xFF))) { $bom = 2; $unit = 2 }
        # The copy (mark included) must stay within $MaxBytes.
        $start = $length - $MaxBytes + $bom
        if ($start -lt $bom) { $start = $bom }
        if ((($start - $bom) % $unit) -ne 0) { $start++ }
        # Move to the first character after the next line feed (LF, or LF 00 in UTF-16LE).
        $in.Position = $start
        $probe = New-Object byte[] 65536
        $n = $in.Read($probe, 0, $probe.Length)
        $skip = -1
        for ($i = 0; $i -lt $n; $i += $unit) {
            if ($probe[$i] -eq 10 -and ($unit -eq 1 -or ($i + 1 -lt $n -and $probe[$i + 1] -eq 0))) { $skip = $i + $unit; break }
            if ($unit -eq 2 -and $probe[$i] -eq 0 -and $i + 1 -lt $n -and $probe[$i + 1] -eq 10) { $skip = $i + $unit; break }
        }
        if ($skip -ge 0) { $start += $skip }
        $out = [System.IO.File]::Open($Target, [System.IO.FileMode]::Create, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
        try {
            if ($bom -gt 0) { $out.Write($head, 0, $bom) }
            $in.Position = $start
            Copy-StreamBytes -From $in -To $out -Limit ($length - $start)
        }
        finally { $out.Close() }
    }
    finally { $in.Close() }
}

function Copy-StreamBytes {
    # Copies at most $Limit bytes (all when negative).
    param($From, $To, [long]$Limit = -1)
    $buffer = New-Object byte[] 1048576
    $left = $Limit
    while ($Limit -lt 0 -or $left -gt 0) {
        $want = $buffer.Length
        if ($Limit -ge 0 -and $left -lt $want) { $want = [int]$left }
        $n = $From.Read($buffer, 0, $want)
        if ($n -le 0) { break }
        $To.Write($buffer, 0, $n)
        $left -= $n
    }
}

function Copy-FileShared {
    # A log that grows while it is copied is copied up to the length it had when opened: what
    # was measured against the budget is what is written.
    param([string]$Source, [string]$Target)
    $in = Open-SharedRead -Path $Source
    try {
        $length = $in.Length
        $out = [System.IO.File]::Open($Target, [System.IO.FileMode]::Create, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
        try { Copy-StreamBytes -From $in -To $out -Limit $length }
        finally { $out.Close() }
    }
    finally { $in.Close() }
}

function Protect-StagedSecrets {
    # Removes secrets from a staged configuration file, in place (the staged copy is ours; the
    # server's file is never touched): machineKey validationKey/decryptionKey (a per-server key
    # since CVE-2020-0688: whoever has it can forge ViewState) and the password part of
    # connection strings. Each value becomes REMOVED-BY-COLLECTOR, so the XML stays valid and
    # says what was removed. Returns how many values were removed.
    param([string]$Path)
    $reader = New-Object System.IO.StreamReader($Path, $script:Utf8NoBom, $true)
    try { $text = $reader.ReadToEnd(); $encoding = $reader.CurrentEncoding }
    finally { $reader.Close() }
    $script:RedactCount = 0
    $keyPattern = '(?i)(\b(?:validationKey|decryptionKey)\s*=\s*["''])([^"'']*)(["''])'
    $text = [regex]::Replace($text, '(?is)<machineKey\b[^>]*>', {
            param($m)
            [regex]::Replace($m.Value, $keyPattern, {
                    param($k)
                    $v = $k.Groups[2].Value
                    if ($v -eq '' -or $v -like 'AutoGenerate*' -or $v -eq $script:Redacted) { return $k.Value }
                    $script:RedactCount++
                    $k.Groups[1].Value + $script:Redacted + $k.Groups[3].Value
                })
        })
    $text = [regex]::Replace($text, '(?i)((?:^|[;"''\s])(?:password|pwd|user password)\s*=\s*)([^;"''<]*)', {
            param($m)
            $v = $m.Groups[2].Value.Trim()
            if ($v -eq '' -or $v -eq $script:Redacted) { return $m.Value }
            $script:RedactCount++
            $m.Groups[1].Value + $script:Redacted
        })
    if ($script:RedactCount -gt 0) { [System.IO.File]::WriteAllText($Path, $text, $encoding) }
    $script:RedactCount
}

function Copy-ToBundle {
    # Copies one file into the bundle. -Tail: a text log larger than what is left (or than
    # -MaxBytes) keeps its newest part instead of being dropped.
    param(
        [Parameter(Mandatory = $true)][string]$BundlePath,
        [hashtable]$Values,
        [Parameter(Mandatory = $true)][string]$Source,
        [switch]$Tail,
        [switch]$Redact,
        [long]$MaxBytes = 0
    )
    $name = $BundlePath
    $target = $null
    try {
        $name = Resolve-BundlePath -Template $BundlePath -Values $Values
        $file = Get-Item -LiteralPath $Source -Force -ErrorAction Stop
        $cap = Get-RemainingBudget
        if ($MaxBytes -gt 0 -and $MaxBytes -lt $cap) { $cap = $MaxBytes }
        $target = Get-StagingPath -Name $name
        $method = 'copy'
        $truncated = $false
        if ($file.Length -le $cap) {
            Copy-FileShared -Source $file.FullName -Target $target
        }
        elseif ($Tail -and $cap -ge 65536) {
            Copy-FileTail -Source $file.FullName -Target $target -MaxBytes $cap
            $method = 'copy-tail'
            $truncated = $true
            Write-CollectorLog -Level 'WARN' -Message ('{0} is {1}: only its newest {2} were kept (truncated)' -f $Source, (Format-Size $file.Length), (Format-Size $cap))
        }
        else {
            Add-NotCollected -What $name -Why ('{0} is {1}, more than the {2} left under -MaxSizeMB' -f $Source, (Format-Size $file.Length), (Format-Size $cap))
            return
        }
        if ($Redact) {
            $removed = Protect-StagedSecrets -Path $target
            if ($removed -gt 0) {
                $method = 'copy-redacted'
                Write-CollectorLog -Level 'INFO' -Message ('{0}: {1} secret value(s) replaced by {2}' -f $name, $removed, $script:Redacted)
            }
        }
        try { (Get-Item -LiteralPath $target -Force).LastWriteTimeUtc = $file.LastWriteTimeUtc } catch { }
        [void](Register-BundleFile -Name $name -Target $target -Source $file.FullName -Method $method -Truncated $truncated)
    }
    catch {
        if ($target) { Remove-Item -LiteralPath $target -Force -ErrorAction SilentlyContinue }
        Add-NotCollected -What $name -Why ('copy of {0} failed: {1}' -f $Source, $_.Exception.Message)
    }
}

function Save-ToBundle {
    # Runs -Writer to produce one bundle file, then records it. The writer is called as
    # & $Writer <target path> <note> <state>; it may set $note.Method, $note.Source and
    # $note.Truncated. -State carries what the writer needs from the caller.
    param(
        [Parameter(Mandatory = $true)][string]$BundlePath,
        [hashtable]$Values,
        [Parameter(Mandatory = $true)][string]$Source,
        [string]$Method = 'generated',
        [Parameter(Mandatory = $true)][scriptblock]$Writer,
        [hashtable]$State = @{},
        [switch]$Unlisted,
        [switch]$NoBudget
    )
    $name = $BundlePath
    $target = $null
    try {
        $name = Resolve-BundlePath -Template $BundlePath -Values $Values
        $target = Get-StagingPath -Name $name
        $note = @{ Method = $Method; Source = $Source; Truncated = $false }
        & $Writer $target $note $State | Out-Null
        [void](Register-BundleFile -Name $name -Target $target -Source $note.Source -Method $note.Method -Truncated ([bool]$note.Truncated) -Unlisted ([bool]$Unlisted) -NoBudget ([bool]$NoBudget))
    }
    catch {
        if ($target) { Remove-Item -LiteralPath $target -Force -ErrorAction SilentlyContinue }
        Add-NotCollected -What $name -Why ('{0}: {1}' -f $Source, $_.Exception.Message)
    }
}

# ==============================================================================================
# Native tools
# ==============================================================================================

function Invoke-Native {
    # Runs a console tool, capturing its output and exit code. Paths must not end in '\': the
    # quoting of Windows PowerShell would turn '\"' into an escaped quote.
    param([string]$FilePath, [string[]]$Arguments)
    $lines = & $FilePath @Arguments 2>&1 | ForEach-Object { [string]$_ }
    $code = $LASTEXITCODE
    $result = @{ ExitCode = $code; Lines = @($lines) }
    $result['Text'] = [string]::Join("`r`n", @($lines))
    $result
}

function Get-SystemTool {
    param([string]$Name)
    $path = Join-Path (Join-Path $env:windir 'System32') $Name
    if (Test-Path -LiteralPath $path) { return $path }
    $Name
}

# ==============================================================================================
# Exchange
# ==============================================================================================

function Find-Exchange {
    # From the registry only, so it works when Exchange services or EMS are down.
    foreach ($v in @('v15', 'v14')) {
        $key = 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\' + $v + '\Setup'
        $setup = Get-ItemProperty -Path $key -ErrorAction SilentlyContinue
        if ($setup -and $setup.MsiInstallPath) {
            $version = $null
            if ($null -ne $setup.MsiProductMajor) {
                $version = '{0}.{1}.{2}.{3}' -f $setup.MsiProductMajor, $setup.MsiProductMinor, $setup.MsiBuildMajor, $setup.MsiBuildMinor
            }
            $info = @{
                Key         = $v
                InstallPath = ([string]$setup.MsiInstallPath).TrimEnd('\')
                Version     = $version
            }
            Write-CollectorLog -Level 'INFO' -Message ('Exchange {0} found: {1}, version {2}' -f $v, $info.InstallPath, $version)
            return $info
        }
    }
    $null
}

function Get-ExchangeShellFacts {
    # Optional: what Get-ExchangeServer says, in a background job so a hung snap-in or an
    # unreachable domain controller cannot stall the collection.
    $job = Start-Job -ArgumentList $env:COMPUTERNAME -ScriptBlock {
        param($Computer)
        $loaded = $false
        foreach ($snapin in @('Microsoft.Exchange.Management.PowerShell.SnapIn', 'Microsoft.Exchange.Management.PowerShell.E2010')) {
            if (-not $loaded) {
                try { Add-PSSnapin $snapin -ErrorAction Stop; $loaded = $true } catch { }
            }
        }
        if (-not $loaded) { throw 'no Exchange Management Shell snap-in could be loaded' }
        $s = Get-ExchangeServer -Identity $Computer -ErrorAction Stop
        $o = @{}
        $o['name'] = [string]$s.Name
        $o['fqdn'] = [string]$s.Fqdn
        $o['admin_display_version'] = [string]$s.AdminDisplayVersion
        $o['server_role'] = [string]$s.ServerRole
        $o['edition'] = [string]$s.Edition
        $o['site'] = [string]$s.Site
        $o
    }
    try {
        if (Wait-Job -Job $job -Timeout 120) {
            $errors = $null
            $result = Receive-Job -Job $job -ErrorAction SilentlyContinue -ErrorVariable errors
            if ($job.State -eq 'Failed' -or -not $result) {
                $why = 'the job failed'
                if ($errors) { $why = [string]$errors[0] }
                elseif ($job.ChildJobs[0].JobStateInfo.Reason) { $why = $job.ChildJobs[0].JobStateInfo.Reason.Message }
                Add-Skipped -What 'Get-ExchangeServer (optional EMS extra)' -Why $why
                return $null
            }
            $map = New-OrderedMap
            foreach ($k in @('name', 'fqdn', 'admin_display_version', 'server_role', 'edition', 'site')) { $map[$k] = $result[$k] }
            return $map
        }
        Stop-Job -Job $job
        Add-Skipped -What 'Get-ExchangeServer (optional EMS extra)' -Why 'no answer within 120 seconds'
        return $null
    }
    finally { Remove-Job -Job $job -Force -ErrorAction SilentlyContinue }
}

# ==============================================================================================
# Collection steps
# ==============================================================================================

function Get-RegistryValue {
    param([string]$Key, [string]$Name)
    $p = Get-ItemProperty -LiteralPath $Key -Name $Name -ErrorAction SilentlyContinue
    if ($p) { return $p.$Name }
    $null
}

function Get-PendingRebootReasons {
    $reasons = New-Object System.Collections.ArrayList
    if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { [void]$reasons.Add('component-based-servicing') }
    if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { [void]$reasons.Add('windows-update') }
    $renames = Get-RegistryValue -Key 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name 'PendingFileRenameOperations'
    if ($renames) { [void]$reasons.Add('pending-file-rename-operations') }
    $active = Get-RegistryValue -Key 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName' -Name 'ComputerName'
    $pending = Get-RegistryValue -Key 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName' -Name 'ComputerName'
    if ($active -and $pending -and $active -ne $pending) { [void]$reasons.Add('computer-rename') }
    $volatile = Get-RegistryValue -Key 'HKLM:\SOFTWARE\Microsoft\Updates' -Name 'UpdateExeVolatile'
    if ($volatile -and [int]$volatile -ne 0) { [void]$reasons.Add('update-exe-volatile') }
    , $reasons
}

function Get-TimeZoneId {
    # TimeZoneInfo is .NET 3.5; PowerShell 2.0 may not have System.Core loaded.
    try { return [System.TimeZoneInfo]::Local.Id } catch { }
    Get-RegistryValue -Key 'HKLM:\SYSTEM\CurrentControlSet\Control\TimeZoneInformation' -Name 'TimeZoneKeyName'
}

function Get-HostFacts {
    $h = New-OrderedMap
    $cs = $null
    $os = $null
    try { $cs = Get-WmiObject -Class Win32_ComputerSystem -ErrorAction Stop } catch { Add-NotCollected -What 'Win32_ComputerSystem' -Why $_.Exception.Message }
    try { $os = Get-WmiObject -Class Win32_OperatingSystem -ErrorAction Stop } catch { Add-NotCollected -What 'Win32_OperatingSystem' -Why $_.Exception.Message }
    $domain = $null
    if ($cs) { $domain = [string]$cs.Domain }
    $fqdn = $env:COMPUTERNAME
    try { $fqdn = [System.Net.Dns]::GetHostEntry($env:COMPUTERNAME).HostName } catch { if ($domain) { $fqdn = $env:COMPUTERNAME + '.' + $domain } }
    $h['computer_name'] = $env:COMPUTERNAME
    $h['fqdn'] = $fqdn
    $h['domain'] = $domain
    if ($cs) { $h['part_of_domain'] = [bool]$cs.PartOfDomain } else { $h['part_of_domain'] = $null }
    if ($os) {
        $h['os'] = ([string]$os.Caption).Trim()
        $h['os_version'] = [string]$os.Version
        $h['os_service_pack'] = [string]$os.CSDVersion
        $h['os_architecture'] = [string]$os.OSArchitecture
        try {
            $boot = [System.Management.ManagementDateTimeConverter]::ToDateTime($os.LastBootUpTime)
            $h['last_boot_utc'] = $boot.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $script:Invariant)
            $h['uptime_hours'] = [Math]::Round(([DateTime]::Now - $boot).TotalHours, 1)
        }
        catch { $h['last_boot_utc'] = $null }
    }
    else { $h['os'] = [string][Environment]::OSVersion }
    $reasons = Get-PendingRebootReasons
    $h['pending_reboot'] = ($reasons.Count -gt 0)
    $h['pending_reboot_reasons'] = $reasons
    $release = Get-RegistryValue -Key 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' -Name 'Release'
    if ($null -ne $release) { $h['dotnet_release'] = [int]$release } else { $h['dotnet_release'] = $null }
    $dotnet = New-Object System.Collections.ArrayList
    foreach ($k in @(Get-ChildItem 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP' -ErrorAction SilentlyContinue)) {
        if ($k.PSChildName -like 'v*') {
            $ver = Get-RegistryValue -Key $k.PSPath -Name 'Version'
            if (-not $ver) { $ver = Get-RegistryValue -Key ($k.PSPath + '\Full') -Name 'Version' }
            if ($ver) { [void]$dotnet.Add([string]$ver) }
        }
    }
    $h['dotnet_versions'] = $dotnet
    $h['utc_offset_minutes'] = [int][System.TimeZone]::CurrentTimeZone.GetUtcOffset([DateTime]::Now).TotalMinutes
    $h['time_zone_id'] = Get-TimeZoneId
    $h['time_zone_standard_name'] = [System.TimeZone]::CurrentTimeZone.StandardName
    $h['daylight_saving_now'] = [System.TimeZone]::CurrentTimeZone.IsDaylightSavingTime([DateTime]::Now)
    $h['culture'] = [System.Globalization.CultureInfo]::CurrentCulture.Name
    $h['powershell_version'] = $PSVersionTable.PSVersion.ToString()
    $h['clr_version'] = [string]$PSVersionTable.CLRVersion
    $h['is_64bit_process'] = ([IntPtr]::Size -eq 8)
    $h['elevated'] = $script:Elevated
    $h['iis_version'] = Get-RegistryValue -Key 'HKLM:\SOFTWARE\Microsoft\InetStp' -Name 'VersionString'
    if ($script:Exchange) {
        $h['exchange_version'] = $script:Exchange.Version
        $h['exchange_install_path'] = $script:Exchange.InstallPath
    }
    else {
        $h['exchange_version'] = $null
        $h['exchange_install_path'] = $null
    }
    $h['collected_utc'] = Get-UtcStamp
    $h
}

function Export-RegistryKey {
    # reg export writes UTF-16LE with a BOM ("Windows Registry Editor Version 5.00"). /reg:64
    # is not known to every reg.exe; without it the 64-bit process still sees the 64-bit view.
    param([string]$Key, [string]$Target)
    $reg = Get-SystemTool 'reg.exe'
    $r = Invoke-Native -FilePath $reg -Arguments @('export', $Key, $Target, '/y', '/reg:64')
    if ($r.ExitCode -ne 0) {
        $r = Invoke-Native -FilePath $reg -Arguments @('export', $Key, $Target, '/y')
    }
    if ($r.ExitCode -ne 0) { throw ('reg export exited with {0}: {1}' -f $r.ExitCode, $r.Text.Trim()) }
}

function Get-ServiceKeysToExport {
    # Exchange services (by name, or by an image path under the install dir) and the IIS and
    # management services Exchange depends on.
    $names = New-Object System.Collections.ArrayList
    $always = @('W3SVC', 'WAS', 'IISADMIN', 'WinRM', 'MSDTC', 'RemoteRegistry', 'NetTcpPortSharing')
    $install = $null
    if ($script:Exchange) { $install = $script:Exchange.InstallPath.ToLowerInvariant() }
    foreach ($k in @(Get-ChildItem 'HKLM:\SYSTEM\CurrentControlSet\Services' -ErrorAction SilentlyContinue)) {
        $n = $k.PSChildName
        $take = $false
        if ($n -like 'MSExchange*' -or $n -like 'msftesql*' -or $n -eq 'FMS' -or $n -eq 'HostControllerService' -or $n -like 'SearchExchange*') { $take = $true }
        foreach ($a in $always) { if ($n -eq $a) { $take = $true } }
        if (-not $take -and $install) {
            $image = Get-RegistryValue -Key $k.PSPath -Name 'ImagePath'
            if ($image -and ([string]$image).ToLowerInvariant().Contains($install)) { $take = $true }
        }
        if ($take) { [void]$names.Add($n) }
    }
    , $names
}

function Export-EventChannel {
    # wevtutil epl of one channel (optionally the last N days); a channel that does not fit the
    # size bound is exported again for 30, 7, then 1 day; where epl fails, the live file is copied.
    param([string]$Channel, [string]$Target, $Note)
    $wevtutil = Get-SystemTool 'wevtutil.exe'
    $windows = New-Object System.Collections.ArrayList
    [void]$windows.Add($script:Days)
    foreach ($w in @(30, 7, 1)) { if ($script:Days -eq 0 -or $w -lt $script:Days) { [void]$windows.Add($w) } }
    $cap = Get-RemainingBudget
    # Sized before anything is written: an export is never larger than the log file, so a log
    # larger than what is left is exported for a window only, and none is started unless the
    # whole log would fit in the free space (margin kept).
    $fileSize = Get-EventLogFileSize -Channel $Channel
    $free = Get-FreeBytes -Folder $Target
    if ($fileSize -ge 0 -and $free -ge 0 -and $free - $script:MarginBytes -lt $fileSize) {
        throw ('the log file is {0} and only {1} is free on the output drive ({2} kept free)' -f (Format-Size $fileSize), (Format-Size $free), (Format-Size $script:MarginBytes))
    }
    if ($fileSize -gt $cap -and $windows.Count -gt 1 -and $windows[0] -eq 0) {
        Write-CollectorLog -Level 'INFO' -Message ('{0}: the log file is {1}, more than the {2} left: exporting the last days only' -f $Channel, (Format-Size $fileSize), (Format-Size $cap))
        $windows.RemoveAt(0)
    }
    $eplError = $null
    foreach ($w in $windows) {
        $arguments = @('epl', $Channel, $Target, '/ow:true')
        if ($w -gt 0) { $arguments += ('/q:*[System[TimeCreated[timediff(@SystemTime)<={0}]]]' -f ([long]$w * 86400000)) }
        if (Test-Path -LiteralPath $Target) { Remove-Item -LiteralPath $Target -Force }
        $r = Invoke-Native -FilePath $wevtutil -Arguments $arguments
        if ($r.ExitCode -ne 0 -or -not (Test-Path -LiteralPath $Target)) {
            $eplError = ('wevtutil epl exited with {0}: {1}' -f $r.ExitCode, $r.Text.Trim())
            break
        }
        $length = (Get-Item -LiteralPath $Target -Force).Length
        $Note.Source = 'wevtutil epl ' + $Channel
        if ($w -gt 0) { $Note.Source += (' /q: last {0} day(s)' -f $w) }
        if ($length -le $cap) {
            if ($w -ne $script:Days -or $fileSize -gt $cap) {
                $Note.Truncated = $true
                Write-CollectorLog -Level 'WARN' -Message ('{0}: the whole log did not fit under -MaxSizeMB; only the last {1} day(s) were exported (truncated)' -f $Channel, $w)
            }
            return
        }
    }
    if ($eplError) {
        # The live file: readable while the Event Log service writes it, though its header may
        # lag behind the last chunks written (the manifest says copy-live).
        $info = Invoke-Native -FilePath $wevtutil -Arguments @('gl', $Channel)
        $live = $null
        foreach ($line in $info.Lines) {
            if ($line -match '^\s*logFileName:\s*(.+)$') { $live = [Environment]::ExpandEnvironmentVariables($Matches[1].Trim()) }
        }
        if (-not $live -or -not (Test-Path -LiteralPath $live)) { throw ($eplError + '; and no live log file was found') }
        Write-CollectorLog -Level 'WARN' -Message ('{0}: {1}; copying the live file {2} instead' -f $Channel, $eplError, $live)
        $size = (Get-Item -LiteralPath $live -Force).Length
        if ($size -gt $cap) { throw ($eplError + ('; the live file is {0}, more than the {1} left' -f (Format-Size $size), (Format-Size $cap))) }
        Copy-FileShared -Source $live -Target $Target
        $Note.Method = 'copy-live'
        $Note.Source = $live
        return
    }
    throw ('even the last day of {0} does not fit in the {1} left under -MaxSizeMB' -f $Channel, (Format-Size $cap))
}

function Get-EventChannels {
    # The most useful logs first, so they get the budget: System and MSExchange Management,
    # then the other Exchange channels, then Application (often the largest) and Defender.
    $channels = New-Object System.Collections.ArrayList
    [void]$channels.Add('System')
    [void]$channels.Add('MSExchange Management')
    $r = Invoke-Native -FilePath (Get-SystemTool 'wevtutil.exe') -Arguments @('el')
    if ($r.ExitCode -ne 0) {
        Add-NotCollected -What 'list of event channels (wevtutil el)' -Why $r.Text.Trim()
        [void]$channels.Add('Application')
        return , $channels
    }
    $defender = $false
    foreach ($line in $r.Lines) {
        $c = $line.Trim()
        if ($c -like 'MSExchange*' -and $c -ne 'MSExchange Management') { [void]$channels.Add($c) }
        if ($c -eq 'Microsoft-Windows-Windows Defender/Operational') { $defender = $true }
    }
    [void]$channels.Add('Application')
    if ($defender) { [void]$channels.Add('Microsoft-Windows-Windows Defender/Operational') }
    , $channels
}

function Get-EventLogFileSize {
    # The size of a channel's log file from wevtutil gli (fileSize: bytes), -1 when unknown.
    param([string]$Channel)
    $r = Invoke-Native -FilePath (Get-SystemTool 'wevtutil.exe') -Arguments @('gli', $Channel)
    if ($r.ExitCode -ne 0) { return [long]-1 }
    foreach ($line in $r.Lines) {
        if ($line -match '^\s*fileSize:\s*(\d+)') { return [long]$Matches[1] }
    }
    [long]-1
}

function Get-FreeBytes {
    param([string]$Folder)
    try {
        $drive = New-Object System.IO.DriveInfo([System.IO.Path]::GetPathRoot($Folder))
        return [long]$drive.AvailableFreeSpace
    }
    catch { return [long]-1 }
}

function Get-FilesUnder {
    # Every file below $Root, without following junctions or symbolic links.
    param([string]$Root)
    $files = New-Object System.Collections.ArrayList
    $stack = New-Object System.Collections.Stack
    $stack.Push((New-Object System.IO.DirectoryInfo($Root)))
    while ($stack.Count -gt 0) {
        $dir = $stack.Pop()
        $items = $null
        try { $items = $dir.GetFileSystemInfos() }
        catch {
            Write-CollectorLog -Level 'WARN' -Message ('cannot list {0}: {1}' -f $dir.FullName, $_.Exception.Message)
            continue
        }
        foreach ($item in $items) {
            if ($item -is [System.IO.DirectoryInfo]) {
                if (($item.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -eq 0) { $stack.Push($item) }
            }
            else { [void]$files.Add($item) }
        }
    }
    , $files
}

function Write-Inventory {
    # Every file under the install dir, without following junctions. Paths keep '\'.
    param([string]$Root, [string]$Target, $Note, [int]$MaxRows = 500000)
    $writer = New-Object System.IO.StreamWriter($Target, $false, $script:Utf8Bom) -ErrorAction Stop
    $rows = 0
    $unreadable = 0
    try {
        $writer.NewLine = "`r`n"
        $writer.WriteLine('"RelativePath","Length","LastWriteTimeUtc"')
        $rootLength = $Root.TrimEnd('\').Length
        $stack = New-Object System.Collections.Stack
        $stack.Push((New-Object System.IO.DirectoryInfo($Root)))
        $full = $false
        while ($stack.Count -gt 0 -and -not $full) {
            $dir = $stack.Pop()
            $items = $null
            try { $items = $dir.GetFileSystemInfos() } catch { $unreadable++; continue }
            foreach ($item in $items) {
                if ($item -is [System.IO.DirectoryInfo]) {
                    if (($item.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -eq 0) { $stack.Push($item) }
                    continue
                }
                if ($rows -ge $MaxRows) { $full = $true; break }
                # Inline, not three function calls per row: Logging\ alone can hold 100 000 files.
                $relative = $item.FullName.Substring($rootLength).TrimStart('\').Replace('"', '""')
                $writer.WriteLine('"' + $relative + '","' + $item.Length.ToString($script:Invariant) + '","' + $item.LastWriteTimeUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $script:Invariant) + '"')
                $rows++
                if (($rows % 5000) -eq 0) { Write-Progress -Activity $script:Activity -Status ('Inventory of the install dir: {0} files listed' -f $rows) }
            }
        }
    }
    finally { $writer.Close() }
    if ($full) {
        $Note.Truncated = $true
        Write-CollectorLog -Level 'WARN' -Message ('inventory stopped at {0} files (truncated)' -f $MaxRows)
    }
    if ($unreadable -gt 0) { Write-CollectorLog -Level 'WARN' -Message ('inventory: {0} folder(s) could not be listed' -f $unreadable) }
    Write-CollectorLog -Level 'INFO' -Message ('inventory: {0} files listed' -f $rows)
}

function Get-UninstallRows {
    param([string]$Key, [string]$Source)
    $rows = New-Object System.Collections.ArrayList
    foreach ($k in @(Get-ChildItem $Key -ErrorAction SilentlyContinue)) {
        $p = Get-ItemProperty -LiteralPath $k.PSPath -ErrorAction SilentlyContinue
        if ($p -and $p.DisplayName) {
            [void]$rows.Add(@{
                    Name        = [string]$p.DisplayName
                    Version     = [string]$p.DisplayVersion
                    Publisher   = [string]$p.Publisher
                    InstallDate = [string]$p.InstallDate
                    Source      = $Source
                })
        }
    }
    , $rows
}

function Get-SecurityProductRows {
    # Antivirus and endpoint products: by service name (works on every server SKU), from
    # SecurityCenter2 (client SKUs only) and from the file-system minifilters (fltmc).
    $rows = New-Object System.Collections.ArrayList
    $known = @('SepMasterService', 'SmcService', 'Symantec AntiVirus', 'ccSvcHst', 'McShield', 'mfemms', 'masvc', 'mfefire',
        'ntrtscan', 'TmListen', 'TMBMServer', 'SAVService', 'SAVAdminService', 'Sophos MCS Agent', 'ekrn', 'AVP', 'klnagent',
        'WinDefend', 'MsMpSvc', 'FSCController', 'FSEMailPickup', 'CylanceSvc', 'CSFalconService', 'SentinelAgent',
        'CbDefense', 'xagt', 'VSSERV', 'bdredline', 'MBAMService', 'AvastSvc', 'avast! Antivirus', 'AntiVirService', 'PSANHost')
    foreach ($svc in @($script:Services)) {
        if ($null -eq $svc) { continue }
        foreach ($k in $known) {
            if ($svc.Name -eq $k) {
                [void]$rows.Add(@{
                        Name        = [string]$svc.DisplayName
                        Version     = ''
                        Publisher   = ''
                        InstallDate = ''
                        Source      = 'av-service:' + $svc.Name + ' (' + $svc.State + ', ' + $svc.StartMode + ')'
                    })
            }
        }
    }
    try {
        foreach ($p in @(Get-WmiObject -Namespace 'root\SecurityCenter2' -Class AntiVirusProduct -ErrorAction Stop)) {
            if ($null -eq $p) { continue }
            [void]$rows.Add(@{ Name = [string]$p.displayName; Version = ''; Publisher = ''; InstallDate = ''; Source = 'securitycenter2' })
        }
    }
    catch { Write-CollectorLog -Level 'INFO' -Message 'root\SecurityCenter2 is not available (normal on server editions)' }
    $r = Invoke-Native -FilePath (Get-SystemTool 'fltmc.exe') -Arguments @('filters')
    if ($r.ExitCode -eq 0) {
        foreach ($line in $r.Lines) {
            if ($line -match '^(\S+)\s+\d+\s+[\d.]+') {
                [void]$rows.Add(@{ Name = $Matches[1]; Version = ''; Publisher = ''; InstallDate = ''; Source = 'fltmc-minifilter' })
            }
        }
    }
    elseif (-not $script:Elevated) { Add-Skipped -What 'file-system minifilters (fltmc filters)' -Why 'fltmc needs an elevated prompt' }
    else { Add-NotCollected -What 'file-system minifilters (fltmc filters)' -Why ('fltmc exited with {0}: {1}' -f $r.ExitCode, $r.Text.Trim()) }
    , $rows
}

function Write-Acl {
    param([string]$Directory, [string]$Target, $Note)
    $r = Invoke-Native -FilePath (Get-SystemTool 'icacls.exe') -Arguments @($Directory.TrimEnd('\'))
    if ($r.ExitCode -ne 0) { throw ('icacls exited with {0}: {1}' -f $r.ExitCode, $r.Text.Trim()) }
    Write-TextFile -Path $Target -Text ($r.Text + "`r`n")
}

function Get-AclRightsText {
    # icacls' notation of one access rule: (I)(OI)(CI)(IO)(NP), (DENY), then F, M, RX, R, W or
    # the specific rights (RD,X,RA,...).
    param($Rule)
    $t = ''
    if ($Rule.IsInherited) { $t += '(I)' }
    $inherit = [int]$Rule.InheritanceFlags
    $propagate = [int]$Rule.PropagationFlags
    if ($inherit -band 1) { $t += '(CI)' }
    if ($inherit -band 2) { $t += '(OI)' }
    if ($propagate -band 2) { $t += '(IO)' }
    if ($propagate -band 1) { $t += '(NP)' }
    if ([string]$Rule.AccessControlType -eq 'Deny') { $t += '(DENY)' }
    $r = [long]$Rule.FileSystemRights
    if ($r -lt 0) { $r += 4294967296 }
    $named = @{ '2032127' = 'F'; '1245631' = 'M'; '1179817' = 'RX'; '1179785' = 'R'; '1180054' = 'W'; '268435456' = 'GA' }
    $key = [string]$r
    $synced = [string]($r -bor 1048576)
    if ($named.ContainsKey($key)) { return $t + '(' + $named[$key] + ')' }
    if ($named.ContainsKey($synced)) { return $t + '(' + $named[$synced] + ')' }
    $bits = @(@(1, 'RD'), @(2, 'WD'), @(4, 'AD'), @(8, 'REA'), @(16, 'WEA'), @(32, 'X'), @(64, 'DC'), @(128, 'RA'),
        @(256, 'WA'), @(65536, 'DE'), @(131072, 'RC'), @(262144, 'WDAC'), @(524288, 'WO'), @(1048576, 'S'),
        @(2147483648, 'GR'), @(1073741824, 'GW'), @(536870912, 'GE'), @(268435456, 'GA'))
    $parts = @()
    foreach ($b in $bits) { if (($r -band [long]$b[0]) -ne 0) { $parts += $b[1] } }
    if ($parts.Count -eq 0) { $parts += 'N' }
    $t + '(' + [string]::Join(',', $parts) + ')'
}

function Write-AclSids {
    # The same folder's ACL with every principal as its SID (Get-Acl, GetAccessRules by
    # SecurityIdentifier, PowerShell 2.0), in icacls' layout: principal names are translated on
    # non-English Windows (VORDEFINIERT\Benutzer), SIDs (S-1-5-32-545) are not.
    param([string]$Directory, [string]$Target)
    $acl = Get-Acl -LiteralPath $Directory -ErrorAction Stop
    $rules = $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])
    $dir = $Directory.TrimEnd('\')
    $pad = ' ' * ($dir.Length + 1)
    $sb = New-Object System.Text.StringBuilder
    $first = $true
    foreach ($rule in $rules) {
        if ($first) { [void]$sb.Append($dir + ' ') } else { [void]$sb.Append($pad) }
        $first = $false
        [void]$sb.Append([string]$rule.IdentityReference.Value + ':' + (Get-AclRightsText -Rule $rule) + "`r`n")
    }
    if ($first) { throw ('no access rule on ' + $dir) }
    # icacls' closing line, in English whatever the server's language: exhume reads a listing
    # without it as cut short.
    [void]$sb.Append("`r`nSuccessfully processed 1 files; Failed processing 0 files`r`n")
    Write-TextFile -Path $Target -Text $sb.ToString()
}

# ==============================================================================================
# The zip
# ==============================================================================================

# C# 2.0 (compiles with the csc of .NET 2.0 through 4.8): Windows PowerShell 2.0 has no zip API,
# and .NET before 4.6.1 writes '\' into entry names. tests/collector.rs compiles this source with
# mcs -langversion:ISO-2 and reads the zip back with exhume, where mono is installed.
$ZipWriterSource = @'
using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;

namespace Exhume.Collector
{
    /// <summary>CRC-32 as zip uses it (IEEE 802.3, reflected, polynomial 0xEDB88320).</summary>
    public static class Crc32
    {
        private static readonly uint[] Table = MakeTable();

        private static uint[] MakeTable()
        {
            uint[] table = new uint[256];
            for (uint i = 0; i < 256; i++)
            {
                uint c = i;
                for (int k = 0; k < 8; k++)
                {
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                }
                table[i] = c;
            }
            return table;
        }

        public static uint Update(uint crc, byte[] buffer, int offset, int count)
        {
            uint c = ~crc;
            for (int i = offset; i < offset + count; i++)
            {
                c = Table[(c ^ buffer[i]) & 0xFF] ^ (c >> 8);
            }
            return ~c;
        }
    }

    /// <summary>
    /// Writes a zip file entry by entry: Deflate, or stored when Deflate does not make the entry
    /// smaller (.NET before 4.5 can grow incompressible data). Names are UTF-8 (flag bit 11)
    /// and must use '/'. No ZIP64: an entry or archive past 4 GiB is refused.
    /// </summary>
    public sealed class ZipWriter : IDisposable
    {
        private sealed class Entry
        {
            public byte[] Name;
            public ushort Method;
            public ushort Time;
            public ushort Date;
            public uint Crc;
            public uint CompressedSize;
            public uint Size;
            public uint Offset;
        }

        private const ushort Utf8Flag = 0x0800;
        private readonly FileStream output;
        private readonly List<Entry> entries = new List<Entry>();
        private bool finished;

        public ZipWriter(string path)
        {
            output = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        }

        public long Length
        {
            get { return output.Length; }
        }

        public int Count
        {
            get { return entries.Count; }
        }

        public void AddFile(string sourcePath, string entryName, DateTime lastWrite)
        {
            if (finished) throw new InvalidOperationException("the zip is already finished");
            if (entryName.IndexOf('\\') >= 0 || entryName.StartsWith("/")) throw new ArgumentException("zip entry names are relative and use '/': " + entryName);
            if (entries.Count >= 65535) throw new IOException("more than 65535 entries need ZIP64, which is not written");
            long headerOffset = output.Position;
            if (headerOffset > uint.MaxValue) throw new IOException("the zip passed 4 GiB, which needs ZIP64: collect less (-MaxSizeMB)");
            try
            {
                AddAt(sourcePath, entryName, lastWrite, headerOffset);
            }
            catch
            {
                // Roll back: the zip stays what it was before this entry, and can go on.
                output.SetLength(headerOffset);
                output.Position = headerOffset;
                throw;
            }
        }

        private void AddAt(string sourcePath, string entryName, DateTime lastWrite, long headerOffset)
        {

            Entry e = new Entry();
            e.Name = Encoding.UTF8.GetBytes(entryName);
            e.Offset = (uint)headerOffset;
            e.Method = 8;
            DosDateTime(lastWrite, out e.Time, out e.Date);
            WriteLocalHeader(e);

            long dataStart = output.Position;
            uint crc = 0;
            long size = 0;
            byte[] buffer = new byte[65536];
            using (FileStream source = new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                using (DeflateStream deflate = new DeflateStream(output, CompressionMode.Compress, true))
                {
                    int n;
                    while ((n = source.Read(buffer, 0, buffer.Length)) > 0)
                    {
                        crc = Crc32.Update(crc, buffer, 0, n);
                        deflate.Write(buffer, 0, n);
                        size += n;
                    }
                }
            }
            long compressed = output.Position - dataStart;
            if (size >= uint.MaxValue) throw new IOException(entryName + " is 4 GiB or more, which needs ZIP64");

            if (compressed >= size)
            {
                // Stored is smaller (always so for an empty file, where .NET 2.0 writes no
                // Deflate block at all).
                output.SetLength(dataStart);
                output.Position = dataStart;
                e.Method = 0;
                long copied = 0;
                using (FileStream source = new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
                {
                    int n;
                    while (copied < size && (n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, size - copied))) > 0)
                    {
                        output.Write(buffer, 0, n);
                        copied += n;
                    }
                }
                if (copied != size) throw new IOException(sourcePath + " changed while it was being zipped");
                compressed = size;
            }
            if (output.Position > uint.MaxValue) throw new IOException("the zip passed 4 GiB, which needs ZIP64: collect less (-MaxSizeMB)");

            e.Crc = crc;
            e.Size = (uint)size;
            e.CompressedSize = (uint)compressed;
            long end = output.Position;
            output.Position = headerOffset;
            WriteLocalHeader(e);
            output.Position = end;
            entries.Add(e);
        }

        public void Finish()
        {
            if (finished) return;
            long centralStart = output.Position;
            foreach (Entry e in entries)
            {
                U32(0x02014b50);
                U16(20);            // version made by: 2.0, MS-DOS attributes
                U16(20);            // version needed to extract
                U16(Utf8Flag);
                U16(e.Method);
                U16(e.Time);
                U16(e.Date);
                U32(e.Crc);
                U32(e.CompressedSize);
                U32(e.Size);
                U16(e.Name.Length);
                U16(0);             // extra field length
                U16(0);             // comment length
                U16(0);             // disk number start
                U16(0);             // internal attributes
                U32(0x20);          // external attributes: archive
                U32(e.Offset);
                output.Write(e.Name, 0, e.Name.Length);
            }
            long centralSize = output.Position - centralStart;
            if (output.Position > uint.MaxValue) throw new IOException("the zip passed 4 GiB, which needs ZIP64: collect less (-MaxSizeMB)");
            U32(0x06054b50);
            U16(0);
            U16(0);
            U16(entries.Count);
            U16(entries.Count);
            U32((uint)centralSize);
            U32((uint)centralStart);
            U16(0);
            output.Flush();
            finished = true;
        }

        public void Dispose()
        {
            output.Close();
        }

        private void WriteLocalHeader(Entry e)
        {
            U32(0x04034b50);
            U16(20);
            U16(Utf8Flag);
            U16(e.Method);
            U16(e.Time);
            U16(e.Date);
            U32(e.Crc);
            U32(e.CompressedSize);
            U32(e.Size);
            U16(e.Name.Length);
            U16(0);
            output.Write(e.Name, 0, e.Name.Length);
        }

        private static void DosDateTime(DateTime t, out ushort time, out ushort date)
        {
            if (t.Year < 1980) t = new DateTime(1980, 1, 1);
            if (t.Year > 2107) t = new DateTime(2107, 12, 31, 23, 59, 58);
            time = (ushort)((t.Hour << 11) | (t.Minute << 5) | (t.Second / 2));
            date = (ushort)(((t.Year - 1980) << 9) | (t.Month << 5) | t.Day);
        }

        private void U16(int v)
        {
            output.WriteByte((byte)(v & 0xFF));
            output.WriteByte((byte)((v >> 8) & 0xFF));
        }

        private void U32(uint v)
        {
            output.WriteByte((byte)(v & 0xFF));
            output.WriteByte((byte)((v >> 8) & 0xFF));
            output.WriteByte((byte)((v >> 16) & 0xFF));
            output.WriteByte((byte)((v >> 24) & 0xFF));
        }
    }
}
'@

function Write-ZipWithHelper {
    param([string]$ZipPath, $Items)
    if (-not ('Exhume.Collector.ZipWriter' -as [type])) {
        Add-Type -TypeDefinition $ZipWriterSource -Language CSharp -ErrorAction Stop
    }
    $zip = New-Object Exhume.Collector.ZipWriter($ZipPath) -ErrorAction Stop
    try {
        $i = 0
        foreach ($item in $Items) {
            $i++
            Write-Progress -Activity $script:Activity -Status ('Zipping {0}' -f $item['name']) -PercentComplete ([int][Math]::Min(99, 100 * $i / [Math]::Max(1, $Items.Count)))
            # One file that cannot be read is left out (the writer rolls its entry back); the
            # others are zipped. exhume then lists it as missing against the manifest.
            try { $zip.AddFile($item['target'], $item['name'], $item['time']) }
            catch { Write-Warning ('{0} could not be zipped: {1}' -f $item['name'], $_.Exception.Message); continue }
            # Staged and zipped never both take the disk for long.
            if (-not $script:KeepStaging) { Remove-Item -LiteralPath $item['target'] -Force -ErrorAction SilentlyContinue }
        }
        $zip.Finish()
    }
    finally { $zip.Dispose() }
}

function Get-Crc32Table {
    # Plain PowerShell CRC-32 for when Add-Type is not allowed. [long] throughout, because
    # PowerShell 2.0 has no -shr and reads 0xEDB88320 as a negative Int32.
    $table = New-Object 'long[]' 256
    for ($i = 0; $i -lt 256; $i++) {
        $c = [long]$i
        for ($k = 0; $k -lt 8; $k++) {
            if (($c -band 1) -eq 1) { $c = [long]3988292384 -bxor [long][Math]::Floor($c / 2) }
            else { $c = [long][Math]::Floor($c / 2) }
        }
        $table[$i] = $c
    }
    , $table
}

function Get-Crc32PowerShell {
    param([string]$Path, $Table)
    $crc = [long]4294967295
    $stream = Open-SharedRead -Path $Path
    $buffer = New-Object byte[] 65536
    try {
        while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {
            for ($i = 0; $i -lt $n; $i++) {
                $crc = $Table[[int](($crc -bxor $buffer[$i]) -band 255)] -bxor [long][Math]::Floor($crc / 256)
            }
        }
    }
    finally { $stream.Close() }
    $crc -bxor [long]4294967295
}

function Write-ZipPowerShell {
    # Stored entries only, and slow: the CRC-32 runs byte by byte in PowerShell (about 1 MB per
    # 10 s on PowerShell 2.0), so it is only tried for small bundles; it needs New-Object on
    # .NET types, which constrained language mode refuses as it refuses Add-Type.
    param([string]$ZipPath, $Items)
    $total = [long]0
    foreach ($item in $Items) { if (Test-Path -LiteralPath $item['target']) { $total += (Get-Item -LiteralPath $item['target'] -Force).Length } }
    if ($total -gt 64 * 1048576) { throw ('the plain PowerShell zip writer would take hours for {0}: zip the folder by hand' -f (Format-Size $total)) }
    $table = Get-Crc32Table
    $out = [System.IO.File]::Open($ZipPath, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::ReadWrite, [System.IO.FileShare]::None)
    $bw = New-Object System.IO.BinaryWriter($out)
    $central = New-Object System.Collections.ArrayList
    try {
        $i = 0
        foreach ($item in $Items) {
            $i++
            Write-Progress -Activity $script:Activity -Status ('Zipping {0} (plain PowerShell, slow)' -f $item['name']) -PercentComplete ([int][Math]::Min(99, 100 * $i / [Math]::Max(1, $Items.Count)))
            $size = (Get-Item -LiteralPath $item['target'] -Force).Length
            if ($size -ge 4294967295 -or $out.Position -ge 4294967295) { throw 'the zip would pass 4 GiB, which needs ZIP64: collect less (-MaxSizeMB)' }
            $crc = Get-Crc32PowerShell -Path $item['target'] -Table $table
            $name = [System.Text.Encoding]::UTF8.GetBytes([string]$item['name'])
            $t = [DateTime]$item['time']
            if ($t.Year -lt 1980) { $t = New-Object DateTime(1980, 1, 1) }
            $dosTime = [uint16](($t.Hour * 2048) + ($t.Minute * 32) + [Math]::Floor($t.Second / 2))
            $dosDate = [uint16]((($t.Year - 1980) * 512) + ($t.Month * 32) + $t.Day)
            $offset = $out.Position
            $bw.Write([uint32]0x04034b50)
            $bw.Write([uint16]20)
            $bw.Write([uint16]0x0800)
            $bw.Write([uint16]0)
            $bw.Write($dosTime)
            $bw.Write($dosDate)
            $bw.Write([uint32]$crc)
            $bw.Write([uint32]$size)
            $bw.Write([uint32]$size)
            $bw.Write([uint16]$name.Length)
            $bw.Write([uint16]0)
            $bw.Write($name)
            $bw.Flush()
            $in = Open-SharedRead -Path $item['target']
            try { Copy-StreamBytes -From $in -To $out } finally { $in.Close() }
            [void]$central.Add(@{ Name = $name; Crc = $crc; Size = $size; Time = $dosTime; Date = $dosDate; Offset = $offset })
        }
        $centralStart = $out.Position
        foreach ($e in $central) {
            $bw.Write([uint32]0x02014b50)
            $bw.Write([uint16]20)
            $bw.Write([uint16]20)
            $bw.Write([uint16]0x0800)
            $bw.Write([uint16]0)
            $bw.Write([uint16]$e.Time)
            $bw.Write([uint16]$e.Date)
            $bw.Write([uint32]$e.Crc)
            $bw.Write([uint32]$e.Size)
            $bw.Write([uint32]$e.Size)
            $bw.Write([uint16]$e.Name.Length)
            $bw.Write([uint16]0)
            $bw.Write([uint16]0)
            $bw.Write([uint16]0)
            $bw.Write([uint16]0)
            $bw.Write([uint32]32)
            $bw.Write([uint32]$e.Offset)
            $bw.Write([byte[]]$e.Name)
        }
        $bw.Flush()
        $centralSize = $out.Position - $centralStart
        $bw.Write([uint32]0x06054b50)
        $bw.Write([uint16]0)
        $bw.Write([uint16]0)
        $bw.Write([uint16]$central.Count)
        $bw.Write([uint16]$central.Count)
        $bw.Write([uint32]$centralSize)
        $bw.Write([uint32]$centralStart)
        $bw.Write([uint16]0)
        $bw.Flush()
    }
    finally { $bw.Close() }
}

# ==============================================================================================
# Main
# ==============================================================================================

$startedUtc = [DateTime]::UtcNow
$stamp = $startedUtc.ToString("yyyyMMdd'T'HHmmss'Z'", $script:Invariant)
$hostName = ($env:COMPUTERNAME -replace '[^A-Za-z0-9._-]', '_')
$baseName = '{0}-{1}-exhume' -f $hostName, $stamp

# Everything is written into one folder of the collector's own, never under %windir% (the
# current folder of an elevated prompt is C:\Windows\System32).
if (-not $OutputPath) {
    $OutputPath = '.'
    if ($MyInvocation.MyCommand.Path) { $OutputPath = Split-Path -Parent $MyInvocation.MyCommand.Path }
}
try {
    $base = [System.IO.Path]::GetFullPath((Join-Path (Resolve-Path -LiteralPath '.').ProviderPath $OutputPath))
    if ([System.IO.Path]::IsPathRooted($OutputPath)) { $base = [System.IO.Path]::GetFullPath($OutputPath) }
}
catch {
    Write-Error ('The output folder {0} is not a valid path: {1}' -f $OutputPath, $_.Exception.Message)
    exit 2
}
$windir = [System.IO.Path]::GetFullPath($env:windir).TrimEnd('\') + '\'
if (($base.TrimEnd('\') + '\').StartsWith($windir, [System.StringComparison]::OrdinalIgnoreCase)) {
    Write-Error ('The output folder {0} is under {1}: the collector does not write there. Run it again with -OutputPath pointing elsewhere, such as -OutputPath C:\Support.' -f $base, $windir)
    exit 2
}
# Room for the staging folder and the zip side by side at worst (each staged file is deleted
# once zipped, and the zip is never larger than what it holds), plus a margin kept free.
$free = Get-FreeBytes -Folder $base
$need = 2 * $script:BudgetBytes + $script:MarginBytes
$budgetNote = ''
if ($free -ge 0 -and $free -lt $need) {
    $fit = [long](($free - $script:MarginBytes) / 2)
    if ($fit -lt 16 * 1048576) {
        Write-Error ('Only {0} is free on the drive of {1}; the collector needs at least {2}. Free some space or use -OutputPath on another drive.' -f (Format-Size $free), $base, (Format-Size (32 * 1048576 + $script:MarginBytes)))
        exit 2
    }
    $script:BudgetBytes = $fit
    $budgetNote = ('only {0} free: -MaxSizeMB lowered to {1} MB' -f (Format-Size $free), [long]($fit / 1048576))
}
try {
    $outputFolder = Join-Path $base ('exhume-' + $hostName + '-' + $stamp)
    [void][System.IO.Directory]::CreateDirectory($outputFolder)
    $script:Staging = Join-Path $outputFolder ($baseName + '-staging')
    [void][System.IO.Directory]::CreateDirectory($script:Staging)
}
catch {
    Write-Error ('Cannot write to the output folder {0}: {1}' -f $base, $_.Exception.Message)
    exit 2
}

# UTF-8 with a byte-order mark, as bundle-format.md says of collector.log.
$script:LogPath = Join-Path $script:Staging 'collector.log'
[System.IO.File]::WriteAllBytes($script:LogPath, [byte[]](0xEF, 0xBB, 0xBF))
foreach ($line in $script:PendingLog) { [System.IO.File]::AppendAllText($script:LogPath, $line + "`r`n", $script:Utf8NoBom) }
$script:PendingLog.Clear()

$script:Elevated = $false
try {
    $principal = New-Object System.Security.Principal.WindowsPrincipal([System.Security.Principal.WindowsIdentity]::GetCurrent())
    $script:Elevated = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
}
catch { }

Write-CollectorLog -Level 'INFO' -Message ('{0} {1} on {2}, PowerShell {3}, CLR {4}, {5}-bit' -f $script:CollectorName, $script:CollectorVersion, $env:COMPUTERNAME, $PSVersionTable.PSVersion, $PSVersionTable.CLRVersion, (8 * [IntPtr]::Size))
Write-CollectorLog -Level 'INFO' -Message ('options: -OutputPath {0} -Days {1} -MaxSizeMB {2}; {3} free, {4} needed at most' -f $outputFolder, $Days, $MaxSizeMB, (Format-Size $free), (Format-Size $need))
if ($budgetNote) { Write-CollectorLog -Level 'WARN' -Message $budgetNote }
$script:FullLanguage = ([string]$ExecutionContext.SessionState.LanguageMode -eq 'FullLanguage')
if (-not $script:FullLanguage) {
    Write-CollectorLog -Level 'WARN' -Message ('PowerShell runs in {0} mode: .NET calls are refused, so much cannot be collected and no zip can be written; zip the folder by hand' -f $ExecutionContext.SessionState.LanguageMode)
}
if (-not $script:Elevated) {
    Write-CollectorLog -Level 'WARN' -Message 'not running elevated: some artefacts will be missing; run again from an elevated prompt (Run as administrator)'
}

Invoke-Step -Name 'Find Exchange in the registry' -Action {
    $script:Exchange = Find-Exchange
    if (-not $script:Exchange) {
        Add-NotCollected -What 'Exchange install path' -Why 'HKLM\SOFTWARE\Microsoft\ExchangeServer\v14|v15\Setup has no MsiInstallPath: Exchange-specific files are not collected'
    }
}

Invoke-Step -Name 'Services' -Action {
    $script:Services = @(Get-WmiObject -Class Win32_Service -ErrorAction Stop)
    Save-ToBundle -BundlePath 'system/services.csv' -Source 'Get-WmiObject Win32_Service' -State @{ Services = $script:Services } -Writer {
        param($Target, $Note, $State)
        $rows = New-Object System.Collections.ArrayList
        foreach ($s in $State.Services) {
            [void]$rows.Add(@{ Name = $s.Name; DisplayName = $s.DisplayName; StartMode = $s.StartMode; State = $s.State; StartName = $s.StartName; PathName = $s.PathName })
        }
        Write-CsvFile -Path $Target -Columns @('Name', 'DisplayName', 'StartMode', 'State', 'StartName', 'PathName') -Rows $rows
    }
}

Invoke-Step -Name 'Host facts' -Action {
    $facts = Get-HostFacts
    if (-not $SkipExchangeShell -and $script:Exchange) {
        Write-Progress -Activity $script:Activity -Status 'Host facts: asking the Exchange Management Shell (at most 2 minutes)'
        try { $facts['exchange_server'] = Get-ExchangeShellFacts }
        catch { Add-Skipped -What 'Get-ExchangeServer (optional EMS extra)' -Why $_.Exception.Message }
    }
    $script:HostFacts = $facts
    Save-ToBundle -BundlePath 'system/host.json' -Source 'WMI, registry, .NET' -State @{ Facts = $facts } -Writer {
        param($Target, $Note, $State)
        [System.IO.File]::WriteAllText($Target, (ConvertTo-JsonText -Value $State.Facts), $script:Utf8NoBom)
    }
}

Invoke-Step -Name 'Registry exports' -Action {
    Save-ToBundle -BundlePath 'registry/{Name}.reg' -Values @{ Name = 'HKLM-SOFTWARE-Microsoft-ExchangeServer' } -Source 'reg export HKLM\SOFTWARE\Microsoft\ExchangeServer' -Method 'reg-export' -Writer {
        param($Target, $Note, $State)
        Export-RegistryKey -Key 'HKLM\SOFTWARE\Microsoft\ExchangeServer' -Target $Target
    }
    Save-ToBundle -BundlePath 'registry/{Name}.reg' -Values @{ Name = 'HKLM-SOFTWARE-Microsoft-InetStp' } -Source 'reg export HKLM\SOFTWARE\Microsoft\InetStp' -Method 'reg-export' -Writer {
        param($Target, $Note, $State)
        Export-RegistryKey -Key 'HKLM\SOFTWARE\Microsoft\InetStp' -Target $Target
    }
    foreach ($service in (Get-ServiceKeysToExport)) {
        $key = 'HKLM\SYSTEM\CurrentControlSet\Services\' + $service
        Save-ToBundle -BundlePath 'registry/{Name}.reg' -Values @{ Name = 'HKLM-SYSTEM-CurrentControlSet-Services-' + $service } -Source ('reg export ' + $key) -Method 'reg-export' -State @{ Key = $key } -Writer {
            param($Target, $Note, $State)
            Export-RegistryKey -Key $State.Key -Target $Target
        }
    }
}

Invoke-Step -Name 'IIS applicationHost.config' -Action {
    $config = Join-Path $env:windir 'System32\inetsrv\config\applicationHost.config'
    if (Test-Path -LiteralPath $config) {
        Copy-ToBundle -BundlePath 'iis/applicationHost.config' -Source $config -Redact
    }
    else { Add-Skipped -What 'iis/applicationHost.config' -Why ($config + ' does not exist: IIS is not installed (an Edge Transport server has none)') }
}

Invoke-Step -Name 'web.config files' -Action {
    if (-not $script:Exchange) { return }
    $install = $script:Exchange.InstallPath
    foreach ($top in @('ClientAccess', 'FrontEnd')) {
        $root = Join-Path $install $top
        if (-not (Test-Path -LiteralPath $root)) {
            Add-Skipped -What ('iis/webconfig/' + $top) -Why ($root + ' does not exist (no Client Access role on this server)')
            continue
        }
        foreach ($f in (Get-FilesUnder -Root $root)) {
            $relDir = $f.DirectoryName.Substring($install.Length).Trim('\')
            $leaf = $f.Name.ToLowerInvariant()
            if ($leaf -eq 'web.config') {
                Copy-ToBundle -BundlePath 'iis/webconfig/{RelDir}/web.config' -Values @{ RelDir = $relDir } -Source $f.FullName -Redact
            }
            elseif ($leaf -eq 'web.config.bak') {
                Copy-ToBundle -BundlePath 'iis/webconfig/{RelDir}/web.config.bak' -Values @{ RelDir = $relDir } -Source $f.FullName -Redact
            }
            elseif ($leaf -eq 'sharedwebconfig.config') {
                Copy-ToBundle -BundlePath 'iis/webconfig/{RelDir}/SharedWebConfig.config' -Values @{ RelDir = $relDir } -Source $f.FullName -Redact
            }
        }
    }
}

Invoke-Step -Name 'Installed software and antivirus' -Action {
    Save-ToBundle -BundlePath 'system/software.csv' -Source 'Uninstall registry keys, antivirus services, SecurityCenter2, fltmc' -Writer {
        param($Target, $Note, $State)
        $rows = New-Object System.Collections.ArrayList
        $rows.AddRange((Get-UninstallRows -Key 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall' -Source 'uninstall'))
        $rows.AddRange((Get-UninstallRows -Key 'HKLM:\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion\Uninstall' -Source 'uninstall-wow6432'))
        $rows.AddRange((Get-SecurityProductRows))
        Write-CsvFile -Path $Target -Columns @('Name', 'Version', 'Publisher', 'InstallDate', 'Source') -Rows $rows
    }
}

Invoke-Step -Name 'File versions' -Action {
    if (-not $script:Exchange) { return }
    Save-ToBundle -BundlePath 'system/file-versions.csv' -Source ($script:Exchange.InstallPath + '\Bin\*.exe, *.dll; exppw.dll') -State @{ Install = $script:Exchange.InstallPath } -Writer {
        param($Target, $Note, $State)
        $paths = New-Object System.Collections.ArrayList
        foreach ($f in @(Get-ChildItem -LiteralPath (Join-Path $State.Install 'Bin') -Force -ErrorAction SilentlyContinue)) {
            if (-not $f.PSIsContainer -and ($f.Extension -eq '.exe' -or $f.Extension -eq '.dll')) { [void]$paths.Add($f.FullName) }
        }
        foreach ($extra in @('ClientAccess\Owa\auth\exppw.dll', 'FrontEnd\HttpProxy\bin\exppw.dll', 'Bin\kerbauth.dll')) {
            $p = Join-Path $State.Install $extra
            if ((Test-Path -LiteralPath $p) -and -not $paths.Contains($p)) { [void]$paths.Add($p) }
        }
        $rows = New-Object System.Collections.ArrayList
        foreach ($p in $paths) {
            try {
                $v = [System.Diagnostics.FileVersionInfo]::GetVersionInfo($p)
                [void]$rows.Add(@{ Path = $p; FileVersion = $v.FileVersion; ProductVersion = $v.ProductVersion })
            }
            catch { Write-CollectorLog -Level 'WARN' -Message ('no version for {0}: {1}' -f $p, $_.Exception.Message) }
        }
        Write-CsvFile -Path $Target -Columns @('Path', 'FileVersion', 'ProductVersion') -Rows $rows
    }
}

Invoke-Step -Name 'Permissions (icacls)' -Action {
    if (-not $script:Exchange) { return }
    $install = $script:Exchange.InstallPath
    Save-ToBundle -BundlePath 'system/acl/{Name}.txt' -Values @{ Name = 'install-dir' } -Source ('icacls ' + $install) -Method 'icacls' -State @{ Dir = $install } -Writer {
        param($Target, $Note, $State)
        Write-Acl -Directory $State.Dir -Target $Target -Note $Note
    }
    $targets = @(
        @('ClientAccess', 'ClientAccess'),
        @('owa-auth', 'ClientAccess\Owa\auth'),
        @('frontend-owa-auth', 'FrontEnd\HttpProxy\owa\auth')
    )
    foreach ($t in $targets) {
        $dir = Join-Path $install $t[1]
        if (-not (Test-Path -LiteralPath $dir)) {
            Add-Skipped -What ('icacls ' + $dir) -Why 'the folder does not exist (no Client Access role, or Exchange 2010 for FrontEnd)'
            continue
        }
        Save-ToBundle -BundlePath 'system/acl/{Name}.txt' -Values @{ Name = $t[0] } -Source ('icacls ' + $dir) -Method 'icacls' -State @{ Dir = $dir } -Writer {
            param($Target, $Note, $State)
            Write-Acl -Directory $State.Dir -Target $Target -Note $Note
        }
        Save-ToBundle -BundlePath 'system/acl/{Name}.txt' -Values @{ Name = $t[0] + '-sid' } -Source ('Get-Acl ' + $dir) -Method 'get-acl' -State @{ Dir = $dir } -Writer {
            param($Target, $Note, $State)
            Write-AclSids -Directory $State.Dir -Target $Target
        }
    }
}

Invoke-Step -Name 'Inventory of the install dir' -Action {
    if (-not $script:Exchange) { return }
    Save-ToBundle -BundlePath 'system/inventory.csv' -Source ('file list of ' + $script:Exchange.InstallPath) -State @{ Root = $script:Exchange.InstallPath } -Writer {
        param($Target, $Note, $State)
        Write-Inventory -Root $State.Root -Target $Target -Note $Note
    }
}

Invoke-Step -Name 'Setup logs' -Action {
    $folder = Join-Path $env:SystemDrive 'ExchangeSetupLogs'
    if (-not (Test-Path -LiteralPath $folder)) {
        Add-NotCollected -What 'setup logs' -Why ($folder + ' does not exist')
        return
    }
    # One log may take at most a quarter of the bound and setup/ as a whole about half, so a
    # 200 MB ExchangeSetup.log cannot crowd out the event logs; newest files first.
    $perLog = [long]([Math]::Max(1048576, $script:BudgetBytes / 4))
    $setupEnd = $script:UsedBytes + [long]($script:BudgetBytes / 2)
    $files = @(Get-ChildItem -LiteralPath $folder -Force -ErrorAction Stop | Where-Object { -not $_.PSIsContainer } | Sort-Object LastWriteTime -Descending)
    foreach ($f in $files) {
        $n = $f.Name
        if ($n -like 'ExchangeSetup*.log') {
            # Setup logs are in local time: the UTC offset at their first and last write, which a
            # daylight-saving change between setup and collection makes differ from today's.
            foreach ($when in @($f.CreationTime, $f.LastWriteTime)) {
                $o = New-OrderedMap
                $o['path'] = 'setup/' + $n
                $o['local_time'] = $when.ToString("yyyy-MM-dd'T'HH:mm:ss", $script:Invariant)
                $o['utc_offset_minutes'] = [int][System.TimeZone]::CurrentTimeZone.GetUtcOffset($when).TotalMinutes
                [void]$script:SetupOffsets.Add($o)
            }
            Copy-ToBundle -BundlePath 'setup/ExchangeSetup{Suffix}.log' -Values @{ Suffix = $f.BaseName.Substring(13) + '' } -Source $f.FullName -Tail -MaxBytes ([Math]::Min($perLog, [Math]::Max(0, $setupEnd - $script:UsedBytes)))
        }
    }
    foreach ($f in $files) {
        $n = $f.Name
        if ($n -like 'ExchangeSetup*.log') { continue }
        $cap = [long][Math]::Min($perLog, [Math]::Max(1, $setupEnd - $script:UsedBytes))
        if ($n -like '*.log') {
            Copy-ToBundle -BundlePath 'setup/{Name}.log' -Values @{ Name = $f.BaseName } -Source $f.FullName -Tail -MaxBytes $cap
        }
        elseif ($n -like '*.msilog') {
            Copy-ToBundle -BundlePath 'setup/{Name}.msilog' -Values @{ Name = $f.BaseName } -Source $f.FullName -Tail -MaxBytes $cap
        }
        elseif ($n -eq 'ServiceState.xml') {
            Copy-ToBundle -BundlePath 'setup/ServiceState.xml' -Source $f.FullName
        }
        else {
            Write-CollectorLog -Level 'INFO' -Message ('setup folder: {0} is not part of the bundle layout, left out' -f $n)
        }
    }
}

Invoke-Step -Name 'Event logs' -Action {
    foreach ($channel in (Get-EventChannels)) {
        Write-Progress -Activity $script:Activity -Status ('Event logs: {0}' -f $channel)
        Save-ToBundle -BundlePath 'evtx/{Channel}.evtx' -Values @{ Channel = $channel.Replace('/', '%4') } -Source ('wevtutil epl ' + $channel) -Method 'wevtutil-epl' -State @{ Channel = $channel } -Writer {
            param($Target, $Note, $State)
            Export-EventChannel -Channel $State.Channel -Target $Target -Note $Note
        }
    }
}

Invoke-Step -Name 'Event message metadata (wevtutil al)' -Action {
    $evtxDir = Join-Path $script:Staging 'evtx'
    foreach ($item in @($script:ZipItems)) {
        if ($item['name'] -notlike 'evtx/*.evtx') { continue }
        $r = Invoke-Native -FilePath (Get-SystemTool 'wevtutil.exe') -Arguments @('al', $item['target'])
        if ($r.ExitCode -ne 0) { Add-NotCollected -What ('message metadata for ' + $item['name']) -Why ('wevtutil al exited with {0}: {1}' -f $r.ExitCode, $r.Text.Trim()) }
    }
    $metaDir = Join-Path $evtxDir 'LocaleMetaData'
    foreach ($m in @(Get-ChildItem -LiteralPath $metaDir -Force -ErrorAction SilentlyContinue)) {
        if ($m.PSIsContainer -or $m.Extension -ne '.MTA') { continue }
        Save-ToBundle -BundlePath 'evtx/LocaleMetaData/{Name}.MTA' -Values @{ Name = $m.BaseName } -Source ('wevtutil al') -Method 'wevtutil-al' -Writer {
            param($Target, $Note, $State)
            # wevtutil al wrote the file in place; nothing to do but record it.
        }
    }
}

Invoke-Step -Name 'Manifest' -Action {
    Write-Progress -Activity $script:Activity -Status 'Writing the manifest'
    $finishedUtc = Get-UtcStamp
    Write-CollectorLog -Level 'INFO' -Message ('collection finished: {0} files, {1}, {2} item(s) not collected' -f $script:Files.Count, (Format-Size $script:UsedBytes), $script:NotCollected.Count)
    # The log goes into the manifest with its hash, so nothing is appended to it after this:
    # later lines only reach the console.
    $script:LogPath = $null
    Save-ToBundle -BundlePath 'collector.log' -Source 'collector' -Method 'generated' -NoBudget -Writer {
        param($Target, $Note, $State)
        if (-not (Test-Path -LiteralPath $Target)) { throw 'the collector log was not written' }
    }

    $m = New-OrderedMap
    $m['schema_version'] = $script:SchemaVersion
    $collector = New-OrderedMap
    $collector['name'] = $script:CollectorName
    $collector['version'] = $script:CollectorVersion
    $collector['powershell'] = $PSVersionTable.PSVersion.ToString()
    $collector['clr'] = [string]$PSVersionTable.CLRVersion
    $collector['elevated'] = $script:Elevated
    $collector['options'] = New-OrderedMap
    $collector['options']['days'] = $script:Days
    $collector['options']['max_size_mb'] = $MaxSizeMB
    $m['collector'] = $collector
    $h = New-OrderedMap
    $h['computer_name'] = $env:COMPUTERNAME
    if ($script:HostFacts) {
        $h['fqdn'] = $script:HostFacts['fqdn']
        $h['domain'] = $script:HostFacts['domain']
    }
    else {
        $h['fqdn'] = $null
        $h['domain'] = $null
    }
    $m['host'] = $h
    $m['collected_utc'] = $startedUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $script:Invariant)
    $m['finished_utc'] = $finishedUtc
    $tz = New-OrderedMap
    $tz['utc_offset_minutes'] = [int][System.TimeZone]::CurrentTimeZone.GetUtcOffset([DateTime]::Now).TotalMinutes
    $tz['id'] = Get-TimeZoneId
    $tz['setup_logs'] = $script:SetupOffsets
    $m['time_zone'] = $tz
    $ex = New-OrderedMap
    if ($script:Exchange) {
        $ex['install_path'] = $script:Exchange.InstallPath + '\'
        $ex['version'] = $script:Exchange.Version
        $ex['registry_key'] = 'HKLM\SOFTWARE\Microsoft\ExchangeServer\' + $script:Exchange.Key
    }
    else {
        $ex['install_path'] = $null
        $ex['version'] = $null
    }
    $m['exchange'] = $ex
    $m['files'] = $script:Files
    $m['not_collected'] = $script:NotCollected
    $m['skipped'] = $script:Skipped
    Save-ToBundle -BundlePath 'manifest.json' -Source 'collector' -Unlisted -NoBudget -State @{ Manifest = $m } -Writer {
        param($Target, $Note, $State)
        [System.IO.File]::WriteAllText($Target, (ConvertTo-JsonText -Value $State.Manifest), $script:Utf8NoBom)
    }
}

# The zip: manifest first, then every file in the order collected; only recorded files go in.
$script:StepIndex++
Write-Progress -Activity $script:Activity -Status 'Writing the zip' -PercentComplete 99
$zipPath = Join-Path $outputFolder ($baseName + '.zip')
$items = New-Object System.Collections.ArrayList
foreach ($item in $script:ZipItems) { if ($item['name'] -eq 'manifest.json') { [void]$items.Add($item) } }
foreach ($item in $script:ZipItems) { if ($item['name'] -ne 'manifest.json') { [void]$items.Add($item) } }
$zipped = $false
$zipWriter = $null
if (-not $script:FullLanguage) {
    Write-Warning 'Constrained language mode: no zip can be written.'
}
else {
try {
    Write-ZipWithHelper -ZipPath $zipPath -Items $items
    $zipped = $true
    $zipWriter = 'C# helper (Add-Type), Deflate'
}
catch {
    Write-Warning ('The compiled zip writer could not be used ({0}); writing the zip in plain PowerShell, which is slower.' -f $_.Exception.Message)
    Remove-Item -LiteralPath $zipPath -Force -ErrorAction SilentlyContinue
    try {
        Write-ZipPowerShell -ZipPath $zipPath -Items $items
        $zipped = $true
        $zipWriter = 'plain PowerShell, stored'
    }
    catch {
        Write-Warning ('The zip could not be written: {0}' -f $_.Exception.Message)
        Remove-Item -LiteralPath $zipPath -Force -ErrorAction SilentlyContinue
    }
}
}
Write-Progress -Activity $script:Activity -Completed

Write-Host ''
if ($zipped) {
    if (-not $KeepStaging) { Remove-Item -LiteralPath $script:Staging -Recurse -Force -ErrorAction SilentlyContinue }
    $zipInfo = Get-Item -LiteralPath $zipPath
    Write-Host 'Exchange evidence collected.' -ForegroundColor Green
    Write-Host ('  Bundle       : {0}' -f $zipInfo.FullName)
    Write-Host ('  Size         : {0} ({1} files, {2} before compression; zip written by {3})' -f (Format-Size $zipInfo.Length), $script:Files.Count, (Format-Size $script:UsedBytes), $zipWriter)
    Write-Host ('  SHA-256      : {0}' -f (Get-Sha256Hex -Path $zipInfo.FullName))
    Write-Host ('  Not collected: {0} item(s), listed in manifest.json (not_collected) and collector.log' -f $script:NotCollected.Count)
    if ($KeepStaging) { Write-Host ('  Staging      : {0}' -f $script:Staging) }
    Write-Host 'Send the bundle to the engineer analysing the failure. It holds server configuration and logs: treat it as confidential; collector.log inside lists what was collected.'
    $zipInfo
    exit 0
}
Write-Host 'The evidence was collected but could not be zipped.' -ForegroundColor Yellow
Write-Host ('  Folder: {0}' -f $script:Staging)
Write-Host '  Zip that folder by hand (right-click > Send to > Compressed (zipped) folder) and send it: exhume reads it as well.'
exit 1
