; Inno Setup script: turns dist\ITA Desktop (the PyInstaller folder) into a double-click installer.
; Build on Windows after PyInstaller:  iscc installer\ita_desktop.iss
; Per-user install (no admin rights), Start-menu and optional desktop shortcut, clean uninstall.
; User data (store, config, logs) lives in the user folders and is kept on uninstall.

#define AppName "ITA Desktop"
#define AppVersion "0.1.0"

[Setup]
AppId={{6C0F3C52-5E0B-4C1B-9E0B-1D6A2B7C9F11}
AppName={#AppName}
AppVersion={#AppVersion}
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
OutputDir=..\dist
OutputBaseFilename=ITA-Desktop-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Files]
Source: "..\dist\{#AppName}\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppName}.exe"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppName}.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppName}.exe"; Description: "Start {#AppName}"; Flags: nowait postinstall skipifsilent
