# Sourced by the benchmark scripts that run Open MPI beside fabricbench: installs Debian's
# openmpi-bin and libopenmpi-dev when either is missing, and sets `mpi`, the mpirun command
# for 2 ranks on loopback over ob1/tcp (as root when root).
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
if ! command -v mpicc >/dev/null || ! command -v mpirun >/dev/null || ! dpkg-query -W -f='${Status}' libopenmpi-dev 2>/dev/null | grep -q "ok installed"; then
    echo "# installing Open MPI (Debian packages)" >&2
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null
fi
mpi=(mpirun --oversubscribe -np 2 --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo)
[ "$(id -u)" = 0 ] && mpi=(mpirun --allow-run-as-root "${mpi[@]:1}")
