#!/usr/bin/env bash
# action/install.sh: puts a shipgate binary on PATH for the steps of a GitHub Actions job.
#
# Which binary:
#   - the `version` input (SHIPGATE_VERSION), e.g. 1.4.0: that release, downloaded;
#   - else, when the action is used at a version tag (GITHUB_ACTION_REF v1, v1.4, v1.4.0): the
#     release of the action's own source (its Cargo.toml version; the moving tag v1 points at
#     the newest v1.x.y commit), downloaded; a tag without a published release is built;
#   - else (a branch, a commit SHA, `uses: ./`), or on a platform without a release binary:
#     built from the action's own source with `cargo install --locked`, and said so.
# A download is verified against the release's published SHA-256 before anything in it runs;
# a mismatch stops here with nothing installed. Downloads are kept in the runner's tool cache
# (RUNNER_TOOL_CACHE/shipgate/<version>/<arch>, the @actions/tool-cache layout), so the next
# use in the same job installs nothing.
#
# Environment: SHIPGATE_VERSION, SHIPGATE_DOWNLOAD_URL (release download base; default
# $GITHUB_SERVER_URL/$GITHUB_ACTION_REPOSITORY/releases/download, for GitHub Enterprise
# mirrors and tests), GITHUB_ACTION_PATH, GITHUB_ACTION_REF, RUNNER_OS, RUNNER_ARCH,
# RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT (the step output `path` is the
# binary).
set -euo pipefail

say() { printf 'shipgate install: %s\n' "$*"; }
# On stderr, which the runner reads for workflow commands too: stdout of the functions below
# is captured (it carries the binary's path).
error() {
	local message=$*
	printf '::error title=shipgate install::%s\n' "${message//%/%25}" >&2
	printf 'shipgate install: error: %s\n' "$*" >&2
}
fail() {
	error "$@"
	exit 1
}
action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}

# Git Bash on Windows hands over C:\… paths; its own tools want /c/….
unix_path() { if command -v cygpath >/dev/null; then cygpath -u "$1"; else printf '%s' "$1"; fi; }
native_path() { if command -v cygpath >/dev/null; then cygpath -w "$1"; else printf '%s' "$1"; fi; }
action_path=$(unix_path "$action_path")
temp=$(unix_path "$temp")

# ------------------------------------------------------------------ platform --

os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
exe=shipgate
case "$os/$arch" in
Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
Linux/ARM64 | Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-musl ;;
macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
Windows/X64 | MINGW*/x86_64 | MSYS*/x86_64 | CYGWIN*/x86_64) target=x86_64-pc-windows-msvc exe=shipgate.exe ;;
*) target= ;;
esac
case "$target" in
*windows*) ext=zip ;;
*) ext=tar.gz ;;
esac
case "$arch" in
X64 | x86_64) cache_arch=x64 ;;
ARM64 | aarch64 | arm64) cache_arch=arm64 ;;
*) cache_arch=$(printf '%s' "$arch" | tr '[:upper:]' '[:lower:]') ;;
esac

# ------------------------------------------------------------------- version --

# The version of the action's own source (the first `version = "…"` of Cargo.toml's [package]).
source_version() {
	sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$action_path/Cargo.toml" | head -n 1
}

# Prints the release version to download, or nothing when the source is to be built; says why.
choose_version() {
	local wanted=${SHIPGATE_VERSION:-} ref=${GITHUB_ACTION_REF:-} own
	wanted=${wanted#v}
	if [[ -n $wanted ]]; then
		[[ $wanted =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
			fail "the version input is '$SHIPGATE_VERSION'; use a release version like 1.4.0 (or leave it empty for the action's own)"
		printf '%s' "$wanted"
		return
	fi
	if [[ $ref =~ ^v([0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?)$ ]]; then
		local tagged=${BASH_REMATCH[1]}
		own=$(source_version)
		# v1 and v1.4 are moving tags: the release is the source's own version, which must
		# belong to them; v1.4.0 names its release exactly.
		if [[ $tagged =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then
			printf '%s' "$tagged"
		elif [[ $own == "$tagged".* ]]; then
			printf '%s' "$own"
		else
			say "the action's ref $ref does not match its source's version ${own:-?}: building from source" >&2
		fi
		return
	fi
	say "the action is used at ${ref:-a local path}, which has no release: building from source" >&2
}

# ---------------------------------------------------------------- downloads --

# fetch URL FILE: prints the HTTP status (000 when there was no answer). Bounded in time;
# curl retries transient failures (timeouts, 5xx) itself.
fetch() {
	local code
	# On no answer curl fails but still writes 000 for the status: keep that one, not a second.
	code=$(curl --silent --show-error --location --proto '=https,http' --connect-timeout 10 --max-time 300 \
		--retry 3 --retry-delay 2 --output "$2" --write-out '%{http_code}' "$1") || true
	printf '%s' "${code:-000}"
}

# download URL FILE VERSION: 0 when fetched; 3 when there is no such file (404: no release for
# this version or platform); 1, said, on any other answer.
download() {
	local status
	status=$(fetch "$1" "$2")
	case $status in
	2??) return 0 ;;
	404) return 3 ;;
	000) error "could not reach $1 (no answer within the time limits); check the runner's network, or set download-url to a reachable mirror" ;;
	*) error "$1 answered HTTP $status; check download-url and that release v$3 exists, or retry if the server is having trouble" ;;
	esac
	return 1
}

sha256_of() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$1" | cut -d ' ' -f 1
	elif command -v shasum >/dev/null; then
		shasum -a 256 "$1" | cut -d ' ' -f 1
	elif command -v openssl >/dev/null; then
		openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
	else
		fail "no sha256sum, shasum or openssl on this runner: cannot verify the download"
	fi
}

# install_release VERSION: downloads, verifies and unpacks into the tool cache; prints the
# binary's path. Returns 3 when the release or its archive for this platform does not exist.
install_release() {
	local version=$1 base archive url dir work expected actual rc
	base=${SHIPGATE_DOWNLOAD_URL:-${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_ACTION_REPOSITORY:-shipgate/shipgate}/releases/download}
	base=${base%/}
	archive=shipgate-$version-$target.$ext
	url=$base/v$version/$archive
	dir=$(unix_path "${RUNNER_TOOL_CACHE:-$temp/tool-cache}")/shipgate/$version/$cache_arch

	if [[ -f $dir.complete && -x $dir/$exe ]]; then
		say "using shipgate $version from the tool cache ($dir)" >&2
		printf '%s' "$dir/$exe"
		return 0
	fi

	work=$(mktemp -d "$temp/shipgate-download.XXXXXX")
	say "downloading $url" >&2
	download "$url.sha256" "$work/$archive.sha256" "$version" || { rc=$?; rm -rf "$work"; return "$rc"; }
	expected=$(head -c 200 "$work/$archive.sha256" | head -n 1 | cut -d ' ' -f 1 | tr '[:upper:]' '[:lower:]')
	[[ $expected =~ ^[0-9a-f]{64}$ ]] || {
		rm -rf "$work"
		fail "$url.sha256 does not hold a SHA-256 in sha256sum format (<64 hex digits>  <file name>)"
	}
	download "$url" "$work/$archive" "$version" || { rc=$?; rm -rf "$work"; return "$rc"; }
	actual=$(sha256_of "$work/$archive")
	if [[ $actual != "$expected" ]]; then
		rm -rf "$work"
		fail "checksum mismatch for $archive: the release publishes $expected, the download is $actual. Nothing was installed or run; download it again, or report it if it persists"
	fi
	mkdir -p "$work/unpacked"
	if [[ $ext == zip ]]; then
		if command -v unzip >/dev/null; then
			unzip -q "$work/$archive" -d "$work/unpacked"
		else
			7z x -y "-o$work/unpacked" "$work/$archive" >/dev/null
		fi
	else
		tar -xzf "$work/$archive" -C "$work/unpacked"
	fi
	[[ -f $work/unpacked/$exe ]] || { rm -rf "$work"; fail "$archive holds no $exe at its top level"; }
	chmod +x "$work/unpacked/$exe"
	rm -rf "$dir" "$dir.complete"
	mkdir -p "$(dirname "$dir")"
	mv "$work/unpacked" "$dir"
	touch "$dir.complete"
	rm -rf "$work"
	say "installed shipgate $version ($target, SHA-256 $actual) in $dir" >&2
	printf '%s' "$dir/$exe"
}

# build_source: cargo install from the action's own source; prints the binary's path.
build_source() {
	local root=$temp/shipgate-from-source cargo=cargo
	command -v "$cargo" >/dev/null ||
		fail "building shipgate from source needs cargo (Rust), which this runner lacks: use the action at a release tag (shipgate@v1), set the version input, or install Rust first"
	say "building from $action_path with $cargo install --locked (this takes a few minutes)" >&2
	"$cargo" install --locked --path "$action_path" --root "$root" >&2 ||
		fail "cargo install --path $action_path failed (its output is above)"
	printf '%s' "$root/bin/$exe"
}

# -------------------------------------------------------------------- main --

if [[ -z $target ]]; then
	say "no release binary is built for $os $arch: building from source" >&2
	version=
else
	version=$(choose_version)
fi
bin=
if [[ -n $version ]]; then
	if bin=$(install_release "$version"); then
		:
	else
		rc=$?
		[[ $rc == 3 ]] || exit "$rc"
		if [[ -n ${SHIPGATE_VERSION:-} ]]; then
			fail "there is no release $version for $target at ${SHIPGATE_DOWNLOAD_URL:-the action repository}; check the version input"
		fi
		say "no release $version is published for $target (yet): building from source" >&2
		bin=
	fi
fi
[[ -n $bin ]] || bin=$(build_source)

# The first run proves the binary works on this runner before any check depends on it.
"$bin" --version || fail "$bin does not run on this runner ($os $arch)"
dir=$(dirname "$bin")
if [[ -n ${GITHUB_PATH:-} ]]; then
	native_path "$dir" >>"$GITHUB_PATH"
	printf '\n' >>"$GITHUB_PATH"
fi
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
	printf 'path=%s\n' "$(native_path "$bin")" >>"$GITHUB_OUTPUT"
fi
