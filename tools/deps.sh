# tools/deps.sh — sourced by tools/test.sh and tools/train.sh: installs the Debian 12 packages vkt
# needs when they are missing (apt-get, with sudo when not root), then configures and builds.
# Nothing is downloaded except Debian packages.

VKT_PACKAGES="libvulkan-dev libvulkan-volk-dev glslang-tools spirv-tools libcmocka-dev meson
ninja-build mesa-vulkan-drivers vulkan-validationlayers pkg-config zlib1g-dev gcc g++ binutils cmake
python3 python3-yaml dataset-fashion-mnist libjansson-dev libyaml-dev libcsv-dev clang libclang-rt-14-dev
libopenmpi-dev openmpi-bin"

vkt_install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root or sudo to install ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# vkt_build DIR [meson options...]: configure (once) and build.
vkt_build() {
    local dir="$1"
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dwerror=true "$@" >/dev/null
    fi
    meson compile -C "$dir" >/dev/null || meson compile -C "$dir"
}
