; A stand-in Windows program for installer/check_installer_wine.sh, compiled by the same ISCC: it appends
; the name it was started as and its arguments to the file named by ITA_STAND_IN_LOG, then exits (exit
; code 1, silently: InitializeSetup returns False). The check copies it in as "ITA Desktop.exe", ita.exe
; and vc_redist.x64.exe, so it can tell which of them the installer ran, with what arguments. Windows
; CPython (and so a Windows PyInstaller build) cannot be had on the Linux machine the check runs on.
; As vc_redist.x64.exe with ITA_STAND_IN_VC_INSTALLS=1 it also writes the runtime's registry key (14.42), as
; the real redistributable does; without it, it is a redistributable that failed (or whose elevation was refused).

[Setup]
AppName=ITA stand-in program
AppVersion=1
CreateAppDir=no
Uninstallable=no
PrivilegesRequired=lowest
OutputBaseFilename=stand_in
DisableWelcomePage=yes

[Code]
const
  VCKey = 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64';

function InitializeSetup: Boolean;
var
  Line, LogFile: String;
  I: Integer;
begin
  LogFile := GetEnv('ITA_STAND_IN_LOG');
  if LogFile <> '' then
  begin
    Line := ExtractFileName(ExpandConstant('{srcexe}'));
    for I := 1 to ParamCount do
      if Pos('/SL5=', Uppercase(ParamStr(I))) <> 1 then  { the loader's own hand-over argument }
        Line := Line + ' ' + ParamStr(I);
    SaveStringToFile(LogFile, Line + #13#10, True);
  end;
  if (CompareText(ExtractFileName(ExpandConstant('{srcexe}')), 'vc_redist.x64.exe') = 0) and
     (GetEnv('ITA_STAND_IN_VC_INSTALLS') = '1') then
  begin
    RegWriteDWordValue(HKLM64, VCKey, 'Installed', 1);
    RegWriteDWordValue(HKLM64, VCKey, 'Major', 14);
    RegWriteDWordValue(HKLM64, VCKey, 'Minor', 42);
    RegWriteDWordValue(HKLM64, VCKey, 'Bld', 34433);
  end;
  Result := False;
end;
