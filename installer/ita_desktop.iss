; Inno Setup 6 script: turns dist\ITA Desktop (the PyInstaller folder) into a double-click installer.
; Built by installer\build_windows.ps1 (which passes /DAppVersion=<version>), or by hand after PyInstaller:
;   iscc /DAppVersion=0.1.0 installer\ita_desktop.iss
;
; - Per-user install: no admin rights (PrivilegesRequired=lowest), into %LOCALAPPDATA%\Programs\ITA Desktop.
; - Start menu and desktop shortcuts for the window; the MIT LICENSE is shown before installing.
; - The trader's data (store, rules, settings, logs, the `ita learn` similar-setups index in chroma\) lives in %LOCALAPPDATA%\ITA\ITA Desktop (platformdirs),
;   never under {app}: an upgrade replaces only the program (same AppId), and the store migrates itself
;   when the new version opens it. The uninstaller keeps that data unless the trader asks to delete it;
;   the compiled-kernel cache (rebuildable) always goes.
; - Uninstall from a script: `unins000.exe /VERYSILENT` keeps the data; `unins000.exe /VERYSILENT /DELETEDATA` removes it too.
; - VC++ 2015-2022 x64 runtime: checked in the registry (14.40 or newer); if missing or older, the bundled vc_redist.x64.exe (put
;   in installer\redist\ by build_windows.ps1) runs, asking for elevation only for itself; if the runtime is still missing
;   after it (elevation refused, the redistributable failed), the installer says so and names the download.
;   The compile fails without installer\redist\vc_redist.x64.exe unless /DNoVCRedist is passed (a hand test build).
; - Checked under wine on Linux by installer/check_installer_wine.sh (compile, install, upgrade, uninstall, runtime check).
; - After copying, `ita --prepare-kernels` compiles the numba kernels once, so the first start is warm; it
;   also removes the previous version's kernels (stale cache-key folders under Cache\numba, ~10 MB each).

#define AppName "ITA Desktop"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppExe "ITA Desktop.exe"
#define DataDir "{localappdata}\ITA\ITA Desktop"
#ifndef ProgramsDir
  ; {autopf} is the per-user Programs folder (%LOCALAPPDATA%\Programs) in this non-admin install. Wine 8 cannot
  ; resolve it (FOLDERID_UserProgramFiles is unimplemented there), so the wine check passes the same folder
  ; spelled out: /DProgramsDir={localappdata}\Programs.
  #define ProgramsDir "{autopf}"
#endif
#if VER < EncodeVer(6, 3, 0)
  #error Inno Setup 6.3 or newer is needed (ArchitecturesAllowed=x64compatible)
#endif
#ifndef NoVCRedist
  #if !FileExists(AddBackslash(SourcePath) + "redist\vc_redist.x64.exe")
    #error installer\redist\vc_redist.x64.exe is missing (build_windows.ps1 downloads it); pass /DNoVCRedist for a test build without the VC++ runtime
  #endif
#endif

[Setup]
AppId={{6C0F3C52-5E0B-4C1B-9E0B-1D6A2B7C9F11}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=ITA Desktop contributors
DefaultDirName={#ProgramsDir}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
LicenseFile=..\LICENSE
OutputDir=..\dist
OutputBaseFilename=ITA-Desktop-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
; An upgrade closes a running copy first (Restart Manager), installs over it, and keeps the user's folder.
CloseApplications=yes
RestartApplications=no
UsePreviousAppDir=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[InstallDelete]
; The previous version's program files (never the user's data, which is not under {app}).
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "..\dist\{#AppName}\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion
Source: "..\LICENSE"; DestDir: "{app}"; Flags: ignoreversion
#ifndef NoVCRedist
; build_windows.ps1 downloads it (the compile fails without it, see above).
Source: "redist\vc_redist.x64.exe"; DestDir: "{tmp}"; Flags: deleteafterinstall; Check: VCRedistNeeded
#endif

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
#ifndef NoVCRedist
Filename: "{tmp}\vc_redist.x64.exe"; Parameters: "/install /quiet /norestart"; Verb: "runas"; \
  Flags: shellexec waituntilterminated; StatusMsg: "Installing the Microsoft Visual C++ runtime..."; \
  Check: VCRedistNeeded; AfterInstall: ReportVCRedistResult
#endif
Filename: "{app}\ita.exe"; Parameters: "--prepare-kernels"; Flags: runhidden waituntilterminated; \
  StatusMsg: "Preparing detectors (compiling them once, about a minute)..."
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Compiled kernels are a cache, rebuilt on demand: always removed.
Type: filesandordirs; Name: "{#DataDir}\Cache"

[Code]
const
  { The runtime must be at least as new as the newest toolset that built a bundled DLL: code built
    with Visual Studio 2022 17.10 (runtime 14.40) or later can crash on an older msvcp140.dll
    (std::mutex), and Python 3.11, PySide6, numba and onnxruntime wheels are built with recent ones. An
    older 14.x runtime is therefore upgraded too (the redistributable updates it in place). }
  VCRedistMinMinor = 40;

function VCRedistInstalledAt(const Key: String): Boolean;
var
  Installed, Major, Minor: Cardinal;
begin
  Result := RegQueryDWordValue(HKLM64, Key, 'Installed', Installed) and (Installed = 1) and
            RegQueryDWordValue(HKLM64, Key, 'Major', Major) and
            RegQueryDWordValue(HKLM64, Key, 'Minor', Minor) and
            ((Major > 14) or ((Major = 14) and (Minor >= VCRedistMinMinor)));
end;

function VCRedistNeeded: Boolean;
begin
  { The 2015-2022 runtimes share one key (14.0) with Installed, Major, Minor and Bld values; x64 apps
    need the x64 one, which the 64-bit registry view holds (WOW6432Node checked as well). }
  Result := not (VCRedistInstalledAt('SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64') or
                 VCRedistInstalledAt('SOFTWARE\WOW6432Node\Microsoft\VisualStudio\14.0\VC\Runtimes\x64'));
end;

procedure ReportVCRedistResult;
begin
  { The redistributable's exit code is not seen through a shell "runas" start (and a refused elevation
    starts nothing): the registry says whether the runtime is there now. }
  if VCRedistNeeded then
  begin
    Log('VC++ runtime: still missing or older than 14.' + IntToStr(VCRedistMinMinor) + ' after vc_redist.x64.exe ran');
    SuppressibleMsgBox('The Microsoft Visual C++ 2015-2022 runtime (x64, 14.' + IntToStr(VCRedistMinMinor) +
      ' or newer) was not installed, and ITA Desktop cannot start without it.' + #13#10 + #13#10 +
      'Install it from https://aka.ms/vs/17/release/vc_redist.x64.exe (it asks for administrator rights), ' +
      'then start ITA Desktop.', mbError, MB_OK, IDOK);
  end
  else
    Log('VC++ runtime: 14.' + IntToStr(VCRedistMinMinor) + ' or newer is installed now');
end;

function UninstallParamGiven(const Name: String): Boolean;
var
  I: Integer;
begin
  Result := False;
  for I := 1 to ParamCount do
    if CompareText(ParamStr(I), Name) = 0 then
      Result := True;
end;

procedure DeleteTraderData(const DataDir: String);
begin
  DelTree(DataDir, True, True, True);
  RemoveDir(ExpandConstant('{localappdata}\ITA'));  { the author folder, only if nothing else is in it }
  Log('Deleted the trader''s data: ' + DataDir);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  DataDir := ExpandConstant('{#DataDir}');
  if not DirExists(DataDir) then
    exit;
  if UninstallParamGiven('/DELETEDATA') then
    DeleteTraderData(DataDir)  { asked for on the command line }
  else if UninstallSilent then
    Log('Kept the trader''s data (silent uninstall without /DELETEDATA): ' + DataDir)
  else if MsgBox('Also delete your ITA Desktop data?' + #13#10 + #13#10 +
                 'This removes your store of bars and backtests, your own rules, your settings and logs in' + #13#10 +
                 DataDir + #13#10 + #13#10 +
                 'Choose No to keep them for a later installation.',
                 mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
    DeleteTraderData(DataDir)
  else
    Log('Kept the trader''s data (the trader chose No): ' + DataDir);
end;
