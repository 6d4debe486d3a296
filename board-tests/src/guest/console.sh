# The harness's commands, one per console line; each answer is one line starting with @@.
stty -echo 2>/dev/null
while read -r command; do
  case "$command" in
    stats)
      pid=$(pidof wisp | cut -d' ' -f1)
      rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
      set -- $(cat "/proc/$pid/stat")
      cpu=$((${14} + ${15}))
      set -- $(cat /sys/block/vda/stat)
      echo "@@STATS rss_kib=$rss cpu_ticks=$cpu write_sectors=$7 uptime=$(cut -d' ' -f1 /proc/uptime)"
      ;;
    check)
      /usr/bin/wisp check
      echo "@@CHECKED rc=$?"
      ;;
    sync)
      sync
      echo "@@SYNCED"
      ;;
    kubeconfig)
      echo "@@KUBECONFIG-BEGIN"
      cat /var/lib/wisp/resources/kubeadmin/kubeconfig
      echo "@@KUBECONFIG-END"
      ;;
    "")
      ;;
    *)
      echo "@@UNKNOWN $command"
      ;;
  esac
done
