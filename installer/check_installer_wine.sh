#!/usr/bin/env bash
# The Windows installer (installer/ita_desktop.iss), compiled by the real Inno Setup compiler and run under
# wine, checked step by step with an exit status: per-user install without admin rights, Start menu and
# desktop shortcuts, the uninstaller, an upgrade that keeps the trader's settings, rules and store, the
# VC++ runtime check (missing, too old, new enough, a redistributable that fails), and an uninstaller that
# keeps the data unless asked (/DELETEDATA, or Yes to its question in an interactive uninstall).
#
# The payload is a stand-in, not the app: Windows CPython cannot be had here, so no Windows PyInstaller
# build either. "ITA Desktop.exe", ita.exe and the bundled vc_redist.x64.exe are one small stand-in program
# (installer/wine/stand_in_exe.iss, compiled by the same ISCC) that logs how it was started, so the check
# sees which of them the installer ran and with what arguments. What is exercised is the installer script.
#
# Needs: wine with 32-bit support (ISCC.exe and the setup loader are 32-bit: `dpkg --add-architecture i386`,
# then `apt-get install wine wine64 wine32:i386`), xvfb-run (wine's Setup needs a display), xdotool (answers
# the interactive uninstaller's message boxes), python3, and
# npm (the compiler is Inno Setup 6.3.1 from npm's innosetup-compiler package; or point ITA_INNO_DIR at a
# folder holding ISCC.exe). ITA_ISS=FILE checks another copy of the script (to show a check failing);
# ITA_WINE_KEEP=1 keeps the work folder (wine prefix, logs). Prints each check and exits 1 if any failed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ISS="$(realpath "${ITA_ISS:-$ROOT/installer/ita_desktop.iss}")"
INNO_VERSION="6.3.1"
APP_ID='{6C0F3C52-5E0B-4C1B-9E0B-1D6A2B7C9F11}'
VC_KEY='HKLM\SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64'

for tool in wine wineserver winepath xvfb-run xdotool python3; do
  command -v "$tool" >/dev/null || { echo "check_installer_wine: '$tool' not found (see this script's header)" >&2; exit 2; }
done
# Every wine process of the check shares one X display: a wineserver started without one would keep
# its display-less desktop for the later steps (Setup then fails with "A call to an OS function failed").
if [ -z "${ITA_WINE_UNDER_XVFB:-}" ]; then
  exec xvfb-run -a -s "-screen 0 1024x768x24" env ITA_WINE_UNDER_XVFB=1 "$0" "$@"
fi

START=$(date +%s)
WORK="$(mktemp -d /tmp/ita-wine-check.XXXXXX)"
cleanup() {
  WINEPREFIX="$WORK/prefix" wineserver -k >/dev/null 2>&1 || true   # this check's own wineserver only
  if [ "${ITA_WINE_KEEP:-}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

FAILS=0
PASSES=0
pass() { PASSES=$((PASSES + 1)); echo "  ok    $1"; }
fail() { FAILS=$((FAILS + 1)); echo "  FAIL  $1"; }
check() {  # check DESCRIPTION COMMAND...: the command's exit status decides
  local what="$1"; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
step() { echo "== $1 ($(( $(date +%s) - START )) s)"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# 1. The compiler -------------------------------------------------------------------------------------
step "Inno Setup $INNO_VERSION compiler"
if [ -n "${ITA_INNO_DIR:-}" ]; then
  INNO="$(realpath "$ITA_INNO_DIR")"
else
  command -v npm >/dev/null || { echo "check_installer_wine: npm not found (or set ITA_INNO_DIR)" >&2; exit 2; }
  (cd "$WORK" && npm pack --silent "innosetup-compiler@$INNO_VERSION" >/dev/null && tar xzf innosetup-compiler-*.tgz)
  INNO="$WORK/package/bin"
fi
[ -f "$INNO/ISCC.exe" ] || { echo "check_installer_wine: no ISCC.exe in $INNO" >&2; exit 2; }

# A fresh 64-bit prefix whose home and desktop are inside the work folder (wine links the Windows desktop
# and documents to $HOME), no desktop-menu entries written to the host, no Mono/Gecko prompts.
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share"
export WINEPREFIX="$WORK/prefix" WINEARCH=win64 WINEDEBUG=-all
export WINEDLLOVERRIDES="winemenubuilder.exe=d;mscoree=d;mshtml=d"
mkdir -p "$HOME"
wineboot --init >/dev/null 2>&1
wine winecfg /v win10 >/dev/null 2>&1
wineserver -w
winvar() { wine cmd /c "echo %$1%" 2>/dev/null | tr -d '\r'; }
LOCALAPPDATA_W="$(winvar LOCALAPPDATA)"
LOCALAPPDATA_U="$(winepath -u "$LOCALAPPDATA_W")"
PROFILE_U="$(winepath -u "$(winvar USERPROFILE)")"
APPDATA_U="$(winepath -u "$(winvar APPDATA)")"
for link in "$PROFILE_U"/*; do  # the profile's folders as real folders inside the prefix
  if [ -L "$link" ]; then rm "$link"; mkdir "$link"; fi
done
APP_U="$LOCALAPPDATA_U/Programs/ITA Desktop"
DATA_U="$LOCALAPPDATA_U/ITA/ITA Desktop"
START_MENU_LNK="$APPDATA_U/Microsoft/Windows/Start Menu/Programs/ITA Desktop.lnk"
DESKTOP_LNK="$PROFILE_U/Desktop/ITA Desktop.lnk"
echo "  prefix $WINEPREFIX (Windows 10 as wine reports it); %LOCALAPPDATA% = $LOCALAPPDATA_W"

iscc() {  # iscc LOGFILE ARGS...: the real compiler; its output goes to LOGFILE
  local out="$1"; shift
  wine "$INNO/ISCC.exe" "$@" >"$out" 2>&1
}

# The stand-in program (see the header) and two payload trees laid out as the script expects them
# (installer/ita_desktop.iss beside ../LICENSE and ../dist/ITA Desktop/).
mkdir -p "$WORK/stand_in"
cp "$ROOT/installer/wine/stand_in_exe.iss" "$WORK/stand_in/"
iscc "$WORK/stand_in/iscc.log" /O"$(winepath -w "$WORK/stand_in")" "$(winepath -w "$WORK/stand_in/stand_in_exe.iss")" ||
  { cat "$WORK/stand_in/iscc.log"; echo "check_installer_wine: the stand-in program did not compile" >&2; exit 1; }
STAND_IN="$WORK/stand_in/stand_in.exe"
export ITA_STAND_IN_LOG_U="$WORK/stand_in_runs.log"
: >"$ITA_STAND_IN_LOG_U"
export ITA_STAND_IN_LOG="$(winepath -w "$ITA_STAND_IN_LOG_U")"

make_tree() {  # make_tree VERSION [with-redist]: a build tree for one version
  local tree="$WORK/tree-$1" payload="$WORK/tree-$1/dist/ITA Desktop"
  mkdir -p "$tree/installer" "$payload/_internal"
  cp "$ISS" "$tree/installer/ita_desktop.iss"
  cp "$ROOT/LICENSE" "$tree/LICENSE"
  cp "$STAND_IN" "$payload/ITA Desktop.exe"
  cp "$STAND_IN" "$payload/ita.exe"
  cp "$ROOT/LICENSE" "$payload/_internal/LICENSE"
  echo "$1" >"$payload/_internal/payload-version.txt"
  echo "a file only version $1 ships" >"$payload/_internal/only-in-$1.txt"
  if [ "${2:-}" = with-redist ]; then
    mkdir -p "$tree/installer/redist"
    cp "$STAND_IN" "$tree/installer/redist/vc_redist.x64.exe"
  fi
}
compile() {  # compile VERSION: the installer of that version -> $WORK/setup-VERSION.exe
  local tree="$WORK/tree-$1" t0
  t0=$(date +%s.%N)
  if iscc "$WORK/iscc-$1.log" "/DAppVersion=$1" '/DProgramsDir={localappdata}\Programs' \
      "$(winepath -w "$tree/installer/ita_desktop.iss")"; then
    cp "$tree/dist/ITA-Desktop-$1-setup.exe" "$WORK/setup-$1.exe"
    printf '  compiled ITA-Desktop-%s-setup.exe in %.1f s (%s bytes)\n' "$1" \
      "$(since "$t0")" "$(stat -c %s "$WORK/setup-$1.exe")"
    return 0
  fi
  tr -d '\r' <"$WORK/iscc-$1.log" | grep -v '^ *$' | tail -15
  return 1
}

step "compile installer/$(basename "$ISS") with ISCC under wine"
make_tree 0.1.0 with-redist
make_tree 0.1.1 with-redist
check "ISCC compiles version 0.1.0" compile 0.1.0
check "ISCC compiles version 0.1.1" compile 0.1.1
no_warnings() { ! tr -d '\r' <"$WORK/iscc-0.1.0.log" | grep -i 'warning'; }
check "the compiler reports no warning" no_warnings
make_tree 0.0.9
refuses_without_redist() {
  ! iscc "$WORK/iscc-noredist.log" /DAppVersion=0.0.9 "$(winepath -w "$WORK/tree-0.0.9/installer/ita_desktop.iss")" &&
    grep -q 'vc_redist.x64.exe is missing' "$WORK/iscc-noredist.log"
}
check "without installer/redist/vc_redist.x64.exe the compile stops and says why" refuses_without_redist
[ -f "$WORK/setup-0.1.0.exe" ] && [ -f "$WORK/setup-0.1.1.exe" ] ||
  { echo "check_installer_wine: no installer to run; $FAILS check(s) failed"; exit 1; }

# 2. Helpers for the runs -----------------------------------------------------------------------------
RUN_LOG=""
run_setup() {  # run_setup NAME EXE [ARGS...]: a silent run; its Inno log is $WORK/NAME.log
  local name="$1" exe="$2" rc=0 t0; shift 2
  RUN_LOG="$WORK/$name.log"
  t0=$(date +%s.%N)
  wine "$exe" /VERYSILENT /SUPPRESSMSGBOXES /NORESTART "/LOG=$(winepath -w "$RUN_LOG")" "$@" >/dev/null 2>&1 || rc=$?
  wineserver -w  # the uninstaller's second phase and the [Run] programs end too
  if [ -f "$RUN_LOG" ]; then tr -d '\r' <"$RUN_LOG" >"$RUN_LOG.txt"; else : >"$RUN_LOG.txt"; fi
  printf '  %s: exit %s, %.1f s\n' "$name" "$rc" "$(since "$t0")"
  return "$rc"
}
logged() { grep -qF -- "$1" "$RUN_LOG.txt"; }
open_message_box() {  # the text's first line of the message box the uninstaller's log shows unanswered
  tr -d '\r' <"$1" 2>/dev/null | cut -c25- | awk '
    /^ *Message box \(/ { n = NR; text = ""; answered = 0; next }
    n && NR == n + 1     { text = $0; sub(/^ +/, "", text) }
    /^ *User chose/      { answered = 1 }
    END { if (n && !answered) print text }'
}
uninstall_interactive() {  # uninstall_interactive NAME y|n: a normal (not silent) uninstall, its boxes
  # answered by keys sent to the newest uninstaller window when its log shows the box open: Yes to
  # "are you sure", ANSWER to the data question, Enter to the last one. The log is followed to its end:
  # the first-phase process exits as soon as the second phase (a copy in %TEMP%) has taken over.
  local name="$1" answer="$2" rc=0 waited=0 pid box key last="" since_key=0 t0 w closed=0
  RUN_LOG="$WORK/$name.log"
  t0=$(date +%s.%N)
  wine "$APP_U/unins000.exe" "/LOG=$(winepath -w "$RUN_LOG")" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do
    sleep 0.5
    if [ ! -f "$RUN_LOG" ]; then  # no log yet: wait, unless no uninstaller started at all
      kill -0 "$pid" 2>/dev/null && continue
      closed=1; break
    fi
    if grep -q "Log closed." "$RUN_LOG"; then closed=1; break; fi
    box="$(open_message_box "$RUN_LOG")"
    case "$box" in
      "Are you sure you want to completely remove"*) key=y ;;
      "Also delete your ITA Desktop data?"*) key="$answer" ;;
      *"was successfully removed"*) key=Return ;;
      *) continue ;;
    esac
    since_key=$((since_key + 1))
    if [ "$box" != "$last" ] || [ "$since_key" -ge 6 ]; then  # once per box; again after 3 s unanswered
      w="$(xdotool search --onlyvisible --name 'Uninstall' 2>/dev/null | sort -n | tail -1)"
      [ -n "$w" ] && xdotool windowfocus "$w" 2>/dev/null && xdotool key --clearmodifiers "$key"
      last="$box"; since_key=0
    fi
  done
  if [ "$closed" = 0 ]; then
    echo "  $name: its log not closed after 120 s (a message box nobody answered?): wine stopped"
    wineserver -k
    rc=124
  fi
  wait "$pid" || waited=$?
  [ "$rc" -ne 0 ] || rc="$waited"
  wineserver -w
  if [ -f "$RUN_LOG" ]; then tr -d '\r' <"$RUN_LOG" >"$RUN_LOG.txt"; else : >"$RUN_LOG.txt"; fi
  printf '  %s: exit %s, %.1f s\n' "$name" "$rc" "$(since "$t0")"
  return "$rc"
}
ran_count() { grep -c -- "^$1" "$ITA_STAND_IN_LOG_U" | tr -d '\n' || true; }
reg_value() {  # reg_value KEY NAME VIEW: the value's data, empty if missing
  wine reg query "$1" /v "$2" "$3" 2>/dev/null | tr -d '\r' | awk -v n="$2" '$1 == n { print $NF }'
}
set_vc_runtime() {  # set_vc_runtime none | 32|64 MINOR: the runtime's key, in one registry view only
  # (plain `wine reg` works in the 32-bit view, whose HKLM\SOFTWARE is the 64-bit view's WOW6432Node)
  wine reg delete "$VC_KEY" /f /reg:64 >/dev/null 2>&1 || true
  wine reg delete "$VC_KEY" /f /reg:32 >/dev/null 2>&1 || true
  if [ "$1" != none ]; then
    wine reg add "$VC_KEY" /v Installed /t REG_DWORD /d 1 /f "/reg:$1" >/dev/null
    wine reg add "$VC_KEY" /v Major /t REG_DWORD /d 14 /f "/reg:$1" >/dev/null
    wine reg add "$VC_KEY" /v Minor /t REG_DWORD /d "$2" /f "/reg:$1" >/dev/null
  fi
}
shortcut_to_app() {  # the .lnk exists and points at {app}\ITA Desktop.exe
  [ -f "$1" ] && python3 - "$1" 'Programs\ITA Desktop\ITA Desktop.exe' <<'EOF'
import sys
data, target = open(sys.argv[1], "rb").read(), sys.argv[2]
sys.exit(0 if target.encode("utf-16-le") in data or target.encode("latin-1") in data else 1)
EOF
}
payload_version() { [ "$(cat "$APP_U/_internal/payload-version.txt" 2>/dev/null)" = "$1" ]; }
uninstall_key() {  # uninstall_key CU|LM 32|64: Inno's uninstall entry is in that hive and view
  wine reg query "HK$1\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\${APP_ID}_is1" "/reg:$2" >/dev/null 2>&1
}
no_program_files_copy() { ! ls -d "$WINEPREFIX"/drive_c/Program\ Files*/ITA\ Desktop >/dev/null 2>&1; }

# 3. First install: no VC++ runtime on the machine ----------------------------------------------------
step "install 0.1.0 (no VC++ runtime yet; the bundled redistributable installs it)"
set_vc_runtime none
export ITA_STAND_IN_VC_INSTALLS=1
check "the installer exits 0" run_setup install-0.1.0 "$WORK/setup-0.1.0.exe"
check "per-user install mode, no admin rights (log: Administrative install mode: No)" logged "Administrative install mode: No"
check "its records go under HKEY_CURRENT_USER" logged "Install mode root key: HKEY_CURRENT_USER"
check "installed into %LOCALAPPDATA%\\Programs\\ITA Desktop" test -f "$APP_U/ITA Desktop.exe" -a -f "$APP_U/ita.exe" -a -f "$APP_U/LICENSE"
check "nothing under Program Files" no_program_files_copy
check "the uninstaller is there (unins000.exe, unins000.dat)" test -f "$APP_U/unins000.exe" -a -f "$APP_U/unins000.dat"
check "the uninstall entry is the user's (HKCU), not the machine's (HKLM)" eval 'uninstall_key CU 64 && ! uninstall_key LM 64 && ! uninstall_key LM 32'
check "Start menu shortcut to ITA Desktop.exe" shortcut_to_app "$START_MENU_LNK"
check "desktop shortcut to ITA Desktop.exe" shortcut_to_app "$DESKTOP_LNK"
check "the VC++ redistributable ran (/install /quiet /norestart)" test "$(ran_count 'vc_redist.x64.exe /install /quiet /norestart')" = 1
check "the redistributable wrote the runtime's key (14.42, 64-bit view)" test "$(reg_value "$VC_KEY" Minor /reg:64)" = 0x2a
check "the installer found the runtime installed after it" logged "VC++ runtime: 14.40 or newer is installed now"
check "ita.exe --prepare-kernels ran after copying" test "$(ran_count 'ita.exe --prepare-kernels')" = 1
check "the window was not started by a silent install" test "$(ran_count 'ITA Desktop.exe')" = 0

# 4. The trader's data, where the app keeps it on Windows (platformdirs: %LOCALAPPDATA%\ITA\ITA Desktop)
step "the trader's settings, rules, store and logs (stand-ins) in $LOCALAPPDATA_W\\ITA\\ITA Desktop"
mkdir -p "$DATA_U/rules/my_sweep" "$DATA_U/Logs" "$DATA_U/Cache/numba/0123abcd"
python3 - "$DATA_U/ita.sqlite3" <<'EOF'
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as db:  # a real SQLite store with a schema version and one bar
    db.execute("PRAGMA user_version = 7")
    db.execute("CREATE TABLE bars (symbol TEXT, ts INTEGER, open REAL, high REAL, low REAL, close REAL)")
    db.execute("INSERT INTO bars VALUES ('EURUSD', 1700000000, 1.0712, 1.0718, 1.0709, 1.0715)")
EOF
printf 'symbols:\n  EURUSD:\n    server_tz: "-03:30"\n' >"$DATA_U/config.yaml"
printf 'id: my_sweep\nversion: 1\nname: my own sweep\n' >"$DATA_U/rules/my_sweep/v1.yaml"
echo "2026-12-07 04:00:00 INFO started" >"$DATA_U/Logs/ita.log"
echo '{"detectors": 19}' >"$DATA_U/Cache/numba/0123abcd/ready-detectors.json"
(cd "$DATA_U" && find . -path ./Cache -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/data.sha256"
data_kept() { (cd "$DATA_U" 2>/dev/null && sha256sum --quiet -c "$WORK/data.sha256"); }
store_opens() {
  python3 -c "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); sys.exit(0 if db.execute('select count(*) from bars').fetchone()[0]==1 and db.execute('pragma user_version').fetchone()[0]==7 else 1)" "$DATA_U/ita.sqlite3"
}

# 5. Upgrade over it, with the runtime there now -------------------------------------------------------
step "upgrade to 0.1.1 (runtime 14.42 installed by the first run)"
check "the upgrade exits 0" run_setup upgrade-0.1.1 "$WORK/setup-0.1.1.exe"
check "same folder as before (UsePreviousAppDir)" logged "Directory for uninstall files: $(winepath -w "$APP_U")"
check "the new program is in place (payload 0.1.1)" payload_version 0.1.1
check "the old version's program files are gone ([InstallDelete] of _internal)" test ! -e "$APP_U/_internal/only-in-0.1.0.txt"
check "settings, rules, store and logs unchanged" data_kept
check "the store still opens (its bar and schema version there)" store_opens
check "one uninstaller, updated (no unins001.exe)" test -f "$APP_U/unins000.exe" -a ! -e "$APP_U/unins001.exe"
check "the uninstall entry says 0.1.1" test "$(reg_value "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\${APP_ID}_is1" DisplayVersion /reg:64)" = 0.1.1
check "runtime 14.42 present: the redistributable was not run again" test "$(ran_count 'vc_redist.x64.exe')" = 1
check "ita.exe --prepare-kernels ran again (the new version's kernels)" test "$(ran_count 'ita.exe --prepare-kernels')" = 2

# 6. The runtime check's edges --------------------------------------------------------------------------
step "VC++ runtime 14.38 (too old, under WOW6432Node) and a redistributable that fails"
set_vc_runtime 32 38
export ITA_STAND_IN_VC_INSTALLS=0
check "the installer exits 0" run_setup reinstall-old-runtime "$WORK/setup-0.1.1.exe"
check "runtime 14.38 is too old: the redistributable ran" test "$(ran_count 'vc_redist.x64.exe')" = 2
check "the runtime still missing after it: the installer says so" logged "VC++ runtime: still missing or older than 14.40 after vc_redist.x64.exe ran"
check "... naming the download (message box, suppressed here)" logged "Install it from https://aka.ms/vs/17/release/vc_redist.x64.exe"
step "VC++ runtime 14.40 exactly (under WOW6432Node)"
set_vc_runtime 32 40
check "the installer exits 0" run_setup reinstall-runtime-14.40 "$WORK/setup-0.1.1.exe"
check "runtime 14.40 is enough: the redistributable was not run" test "$(ran_count 'vc_redist.x64.exe')" = 2
check "no word of a missing runtime" eval '! logged "VC++ runtime: still missing"'

# 7. Uninstall: keeps the data unless asked -------------------------------------------------------------
step "uninstall (silent, the default)"
check "the uninstaller exits 0" run_setup uninstall-keep "$APP_U/unins000.exe"
check "the program folder is gone" test ! -e "$APP_U"
check "both shortcuts are gone" test ! -e "$START_MENU_LNK" -a ! -e "$DESKTOP_LNK"
check "the uninstall entry is gone" eval '! uninstall_key CU 64 && ! uninstall_key CU 32'
check "settings, rules, store and logs kept" data_kept
check "the compiled-kernel cache is gone (rebuildable)" test ! -e "$DATA_U/Cache"
check "the uninstaller logged why it kept them" logged "Kept the trader's data (silent uninstall without /DELETEDATA)"

step "reinstall over the kept data, then an interactive uninstall answering No to the data question"
check "the reinstall exits 0" run_setup reinstall-0.1.1 "$WORK/setup-0.1.1.exe"
check "the kept data is untouched by the reinstall" data_kept
check "the uninstaller exits 0" uninstall_interactive uninstall-answer-no n
check "it asked whether to delete the data" logged "Also delete your ITA Desktop data?"
check "the program folder is gone" test ! -e "$APP_U"
check "No: settings, rules, store and logs kept" data_kept
check "No: the uninstaller logged the trader's choice" logged "Kept the trader's data (the trader chose No)"

step "reinstall, then uninstall with /DELETEDATA"
check "the reinstall exits 0" run_setup reinstall-0.1.1-b "$WORK/setup-0.1.1.exe"
check "the uninstaller with /DELETEDATA exits 0" run_setup uninstall-delete "$APP_U/unins000.exe" /DELETEDATA
check "the program folder is gone" test ! -e "$APP_U"
check "the data folder is gone" test ! -e "$DATA_U"
check "the empty author folder (%LOCALAPPDATA%\\ITA) is gone" test ! -e "$LOCALAPPDATA_U/ITA"

step "reinstall, new data, then an interactive uninstall answering Yes"
check "the reinstall exits 0" run_setup reinstall-0.1.1-c "$WORK/setup-0.1.1.exe"
mkdir -p "$DATA_U/rules/my_sweep"
printf 'id: my_sweep\nversion: 2\n' >"$DATA_U/rules/my_sweep/v2.yaml"
check "the uninstaller exits 0" uninstall_interactive uninstall-answer-yes y
check "the program folder is gone" test ! -e "$APP_U"
check "Yes: the data folder is gone" test ! -e "$DATA_U"
check "Yes: the uninstaller logged it" logged "Deleted the trader's data"

echo "== $PASSES passed, $FAILS failed ($(( $(date +%s) - START )) s)"
[ "$FAILS" -eq 0 ]
