<#
.SYNOPSIS
  The whole Windows release build: PyInstaller folder, smoke tests on the frozen app, Inno Setup installer.

.DESCRIPTION
  Run from anywhere on a Windows x64 machine with uv and Inno Setup 6 installed
  (winget install astral-sh.uv; winget install JRSoftware.InnoSetup):

      powershell -ExecutionPolicy Bypass -File installer\build_windows.ps1 [-Data ..\shared\data\EURUSD_M1.csv] [-SkipInstaller]

  Steps (each stops the build on failure):
    1. uv sync --locked, then PyInstaller (installer\ita_desktop.spec) -> dist\ITA Desktop\ with
       "ITA Desktop.exe" (the window) and ita.exe (the CLI); prints build time and folder size.
    2. The same smoke tests as installer/build_and_smoke.sh, on the frozen executables, with a fresh
       ITA_HOME and an empty numba cache: ita --version; ita data import of the real EURUSD M1 file
       (--server-tz=-03:30); the window's first start with --screenshot (offscreen), which must show
       the overlays, so the kernel preparation process must have run; ita --prepare-kernels for the
       rest; ita backtest asia_sweep; ita learn index; ita learn score on ten years of gold H1 (an H1
       copy of the seed rule ib_raid: scikit-learn fits); ita --check-sounds (the tray's sounds load:
       needs an audio output, which a build VM without a sound device lacks: pass -NoSoundDevice there
       to report the check without failing on it); ita --chart-snapshot; a second --screenshot start.
    3. Downloads Microsoft's VC++ 2015-2022 x64 redistributable into installer\redist\ (bundled, run
       by the installer only when the machine lacks it), then iscc -> dist\ITA-Desktop-<version>-setup.exe.
#>
param(
    [string]$Data = (Join-Path $PSScriptRoot "..\..\shared\data\EURUSD_M1.csv"),
    [switch]$SkipInstaller,
    [switch]$NoSoundDevice
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest
$Root = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
Set-Location $Root

function Invoke-Checked([string]$What, [scriptblock]$Block) {
    $watch = [Diagnostics.Stopwatch]::StartNew()
    & $Block
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit $LASTEXITCODE)" }
    Write-Host ("{0}: {1:N1} s" -f $What, $watch.Elapsed.TotalSeconds)
}

# 1. Build ------------------------------------------------------------------------------------------
Invoke-Checked "uv sync --locked" { uv sync --locked }
$Version = (uv run python -c "import ita_desktop; print(ita_desktop.__version__)").Trim()
$Work = Join-Path ([IO.Path]::GetTempPath()) "ita-pyi-work"
Invoke-Checked "PyInstaller build" {
    uv run pyinstaller installer\ita_desktop.spec --noconfirm --log-level WARN --distpath dist --workpath $Work
}
$App = Join-Path $Root "dist\ITA Desktop"
$Ita = Join-Path $App "ita.exe"
$Gui = Join-Path $App "ITA Desktop.exe"
$SizeMB = [math]::Round(((Get-ChildItem $App -Recurse -File | Measure-Object Length -Sum).Sum) / 1MB)
Write-Host "folder: $SizeMB MB ($App); largest parts (MB):"
Get-ChildItem (Join-Path $App "_internal") | ForEach-Object {
    [pscustomobject]@{ Name = $_.Name; MB = [math]::Round(((Get-ChildItem $_.FullName -Recurse -File -ErrorAction SilentlyContinue | Measure-Object Length -Sum).Sum) / 1MB) }
} | Sort-Object MB -Descending | Select-Object -First 12 | ForEach-Object { Write-Host ("  {0,5}  {1}" -f $_.MB, $_.Name) }
Write-Host "largest files (MB):"
Get-ChildItem (Join-Path $App "_internal") -Recurse -File | Sort-Object Length -Descending | Select-Object -First 8 |
    ForEach-Object { Write-Host ("  {0,5:N1}  {1}" -f ($_.Length / 1MB), $_.FullName.Substring($App.Length + 11)) }
if (-not (Test-Path (Join-Path $App "_internal\LICENSE"))) { throw "LICENSE is not bundled" }

# 2. Smoke tests on the frozen app ------------------------------------------------------------------
$SmokeHome = Join-Path ([IO.Path]::GetTempPath()) ("ita-smoke-" + [guid]::NewGuid())
New-Item -ItemType Directory $SmokeHome | Out-Null
$env:ITA_HOME = $SmokeHome          # store, config, logs and an EMPTY numba cache
Remove-Item Env:NUMBA_CACHE_DIR -ErrorAction SilentlyContinue
$env:QT_QPA_PLATFORM = "offscreen"
$env:ITA_SCREENSHOT_TIMEOUT_S = "300"  # the first start compiles the kernels before the overlays
try {
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $got = (& $Ita --version).Trim()
    if ($got -ne "ita $Version") { throw "ita --version printed '$got', expected 'ita $Version'" }
    Write-Host ("ita --version: {0} ({1:N2} s)" -f $got, $watch.Elapsed.TotalSeconds)
    if (-not (Test-Path $Data)) { throw "real data not found at $Data (pass -Data)" }
    Invoke-Checked "ita data import (real EURUSD M1)" { & $Ita data import $Data --symbol EURUSD --server-tz=-03:30 }

    # The window is a windowed exe: Start-Process -Wait waits for it and gives its exit code.
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $first = Join-Path $SmokeHome "first_start.png"
    $p = Start-Process -FilePath $Gui -ArgumentList @("--screenshot", "`"$first`"", "--symbol", "EURUSD", "--timeframe", "M5") -Wait -PassThru
    if ($p.ExitCode -ne 0 -or -not (Test-Path $first)) { throw "first start (empty numba cache) failed: exit $($p.ExitCode)" }
    Write-Host ("ITA Desktop --screenshot, first start, empty numba cache: {0:N1} s" -f $watch.Elapsed.TotalSeconds)
    $marker = Get-ChildItem (Join-Path $SmokeHome "cache\numba") -Recurse -Filter "ready-detectors.json" | Select-Object -First 1
    if (-not $marker) { throw "the kernel preparation process left no ready marker" }
    Write-Host "kernels cached under numba\$($marker.Directory.Name)"

    Invoke-Checked "ita --prepare-kernels (rest of the kernels)" { & $Ita --prepare-kernels | Select-Object -Last 1 }
    Invoke-Checked "ita backtest asia_sweep" { & $Ita backtest asia_sweep --symbol EURUSD }
    # `ita learn`: chromadb (PersistentClient) and scikit-learn bundled, the index in the data folder
    $learned = (& $Ita learn index --rule asia_sweep --symbol EURUSD --json | Out-String | ConvertFrom-Json)
    if ($LASTEXITCODE -ne 0 -or $learned.indexed -lt 1) { throw "ita learn index indexed nothing" }
    if (-not (Test-Path (Join-Path $SmokeHome "chroma\chroma.sqlite3"))) { throw "no Chroma index in the data folder" }
    Write-Host "ita learn index --rule asia_sweep (chromadb, real data): $($learned.indexed) occurrences indexed"

    # scikit-learn's fit: the scorer needs 40+ outcomes; an H1 copy of ib_raid over ten years of gold H1 has them.
    $GoldH1 = Join-Path (Split-Path $Data) "XAUUSD_H1.csv"
    if (-not (Test-Path $GoldH1)) { throw "real gold H1 data not found at $GoldH1" }
    Invoke-Checked "ita data import (real XAUUSD H1)" { & $Ita data import $GoldH1 --symbol XAUUSD --server-tz=Europe/Athens | Out-Null }
    $RuleDir = Join-Path $SmokeHome "rules\ib_raid"
    New-Item -ItemType Directory $RuleDir -Force | Out-Null
    $rule = (Get-Content (Join-Path $Root "rules\ib_raid\v1.yaml")) -replace '^version: 1$', 'version: 2' `
        -replace '^  timeframe: M5$', '  timeframe: H1'
    [IO.File]::WriteAllLines((Join-Path $RuleDir "v2.yaml"), [string[]]$rule)  # UTF-8 without a BOM
    $score = (& $Ita learn score ib_raid --symbol XAUUSD --json | Out-String | ConvertFrom-Json)
    if ($LASTEXITCODE -ne 0 -or $score.n_train -lt 1) { throw "ita learn score fitted nothing" }
    Write-Host "ita learn score ib_raid (H1 copy) on XAUUSD H1 (scikit-learn fit): n_train $($score.n_train)"

    # The tray's sounds: QtMultimedia's QSoundEffect with the bundled WAVs, Ready only for an audio output.
    # (stdout only: Qt's warnings on stderr would stop the script under ErrorActionPreference=Stop)
    $sounds = (& $Ita --check-sounds | Out-String).Trim()
    Write-Host $sounds
    if ($LASTEXITCODE -ne 0) {
        if ($NoSoundDevice -and $sounds -match "audio outputs: none") { Write-Host "NOTE: no audio output here: the sounds' check is not conclusive" }
        else { throw "the tray's sounds did not load" }
    }

    $watch = [Diagnostics.Stopwatch]::StartNew()
    $picture = Join-Path $SmokeHome "signal_picture.png"
    & $Ita --chart-snapshot --symbol EURUSD --timeframe M5 --shot '""' "$picture"
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path $picture)) { throw "ita --chart-snapshot (the picture child) drew nothing" }
    Write-Host "ita --chart-snapshot (the picture child, frozen): drawn"
    $second = Join-Path $SmokeHome "second_start.png"
    $p = Start-Process -FilePath $Gui -ArgumentList @("--screenshot", "`"$second`"", "--symbol", "EURUSD", "--timeframe", "M5") -Wait -PassThru
    if ($p.ExitCode -ne 0 -or -not (Test-Path $second)) { throw "second start failed: exit $($p.ExitCode)" }
    Write-Host ("ITA Desktop --screenshot, second start: {0:N1} s" -f $watch.Elapsed.TotalSeconds)
    Copy-Item $first (Join-Path $Root "dist\smoke_first_start.png")
    Write-Host "smoke tests passed"
}
finally {
    Remove-Item Env:ITA_HOME
    Remove-Item Env:ITA_SCREENSHOT_TIMEOUT_S -ErrorAction SilentlyContinue
    Remove-Item $SmokeHome -Recurse -Force -ErrorAction SilentlyContinue
}

# 3. Installer --------------------------------------------------------------------------------------
if ($SkipInstaller) { return }
$Redist = Join-Path $PSScriptRoot "redist\vc_redist.x64.exe"
if (-not (Test-Path $Redist)) {
    New-Item -ItemType Directory (Split-Path $Redist) -Force | Out-Null
    Invoke-WebRequest "https://aka.ms/vs/17/release/vc_redist.x64.exe" -OutFile $Redist
}
$Iscc = (Get-Command iscc -ErrorAction SilentlyContinue).Source
if (-not $Iscc) { $Iscc = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe" }
if (-not (Test-Path $Iscc)) { $Iscc = Join-Path $env:LOCALAPPDATA "Programs\Inno Setup 6\ISCC.exe" }
if (-not (Test-Path $Iscc)) { throw "Inno Setup 6 (ISCC.exe) not found: winget install JRSoftware.InnoSetup" }
Invoke-Checked "Inno Setup" { & $Iscc "/DAppVersion=$Version" (Join-Path $PSScriptRoot "ita_desktop.iss") }
Write-Host "installer: $(Join-Path $Root "dist\ITA-Desktop-$Version-setup.exe")"
