#!/usr/bin/env bash
# Side-by-side benchmark: livecdn edge vs nginx proxy_cache vs Varnish, all on
# loopback in front of one tiny static upstream (deploy/compare/upstream).
#
#   bash deploy/compare/run.sh                 # full run (~20 min on 2 cores)
#   DURATION=3s REPEATS=1 CONNS="50" bash deploy/compare/run.sh   # smoke run
#
# Steps: install wrk/nginx/varnish from Debian if missing; build livecdn and
# the two helpers; start the upstream (one listener per cache, so upstream
# requests are counted per cache) and the caches as the current user in temp
# dirs; check status, length and checksum through every cache and that each
# really serves from its cache; warm up; run wrk for every object size and
# connection count, interleaving the caches, REPEATS times; flash crowd of
# FLASH_N first-time requests on a FLASH_DELAY upstream; memory after pushing
# 1.5x the cache size through each cache. Prints a markdown report (also
# written to $REPORT when set). Tunables (environment):
#   DURATION=10s REPEATS=3 THREADS=2 CONNS="50 200 1000" OBJECTS="segment part playlist"
#   GZIP_CONNS="200" (playlist with Accept-Encoding: gzip; "" skips)
#   CACHES="livecdn nginx varnish" CACHE_SIZE_MIB=256 BASE_PORT=18100
#   FLASH_N=500 FLASH_DELAY=100ms FLASH_REPEATS=3 FLASH_OBJECTS="segment part playlist" FILL=1 NGINX_NOPUSH=off
#   NGINX_CONF=file VARNISH_VCL=file (variants of the templates beside this script)
#   KEEP=1 (keep the temp dir with every log and wrk output) REPORT=file
#   LEAN="segment part": objects measured with deploy/compare/load (bodies
#     discarded in the kernel with recv(MSG_TRUNC)) instead of wrk, whose
#     8 KiB reads of 1 MiB bodies saturate its core before the cache's
#   PIN=1: every cache on CPU 0 alone (livecdn GOMAXPROCS=1, nginx 1 worker,
#     varnishd's threads), wrk, the flash client and the upstream on CPU 1,
#     so req/s measures what one core of each cache serves instead of the
#     share of 2 cores the scheduler gave it next to the load generator.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-10s}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-"50 200 1000"}
OBJECTS=${OBJECTS:-"segment part playlist"}
GZIP_CONNS=${GZIP_CONNS-200}
CACHES=${CACHES:-"livecdn nginx varnish"}
CACHE_SIZE_MIB=${CACHE_SIZE_MIB:-256}
BASE_PORT=${BASE_PORT:-18100}
FLASH_N=${FLASH_N:-500}
FLASH_DELAY=${FLASH_DELAY:-100ms}
FLASH_REPEATS=${FLASH_REPEATS:-3}
FLASH_OBJECTS=${FLASH_OBJECTS:-"segment part playlist"}
FILL=${FILL:-1}
NGINX_NOPUSH=${NGINX_NOPUSH:-off}
KEEP=${KEEP:-0}
PIN=${PIN:-0}
LEAN=${LEAN:-}
REPORT=${REPORT:-}
NGINX_CONF=${NGINX_CONF:-$HERE/nginx.conf}
VARNISH_VCL=${VARNISH_VCL:-$HERE/varnish.vcl}

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# --- tools -------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ] || need+=(varnish)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
	log "installing ${need[*]} from Debian"
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin
command -v go >/dev/null || die "go is needed to build livecdn"

# PIN=1: caches on CPU 0, everything that makes load on CPU 1 (see above).
SRV=() CLI=() WORKERS=2
if [ "$PIN" = 1 ]; then
	[ "$(nproc)" -ge 2 ] || die "PIN=1 needs 2 CPUs"
	command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
	SRV=(taskset -c 0) CLI=(taskset -c 1) WORKERS=1
fi

# wrk at c=1000 plus the caches need far more than 1024 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/livecdn-compare.XXXXXX)
SHM=$WORK
if [ -d /dev/shm ] && [ -w /dev/shm ]; then SHM=$(mktemp -d /dev/shm/livecdn-compare.XXXXXX); fi
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	[ "$SHM" = "$WORK" ] || rm -rf "$SHM"
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building livecdn and the helpers in $WORK/bin"
mkdir -p "$WORK/bin" "$WORK/wrk"
(cd "$ROOT" && go build -o "$WORK/bin/livecdn" ./cmd/livecdn &&
	go build -o "$WORK/bin/upstream" ./deploy/compare/upstream &&
	go build -o "$WORK/bin/flash" ./deploy/compare/flash &&
	go build -o "$WORK/bin/load" ./deploy/compare/load)
LIVECDN_REV=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?') # what was built, not HEAD at the end

# --- ports: one upstream listener per cache -----------------------------------
P_LIVECDN=$((BASE_PORT + 1)) P_NGINX=$((BASE_PORT + 2)) P_VARNISH=$((BASE_PORT + 3)) P_NOLOCK=$((BASE_PORT + 4))
U_LIVECDN=$((BASE_PORT + 11)) U_NGINX=$((BASE_PORT + 12)) U_VARNISH=$((BASE_PORT + 13)) U_NOLOCK=$((BASE_PORT + 14)) U_DIRECT=$((BASE_PORT + 15))
for p in $P_LIVECDN $P_NGINX $P_VARNISH $P_NOLOCK $U_LIVECDN $U_NGINX $U_VARNISH $U_NOLOCK $U_DIRECT; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set BASE_PORT)"; fi
done
port_of() { case $1 in livecdn | livecdn-hit) echo "$P_LIVECDN" ;; nginx) echo "$P_NGINX" ;; varnish) echo "$P_VARNISH" ;; nginx-nolock) echo "$P_NOLOCK" ;; direct) echo "$U_DIRECT" ;; esac; }
uport_of() { case $1 in livecdn | livecdn-hit) echo "$U_LIVECDN" ;; nginx) echo "$U_NGINX" ;; varnish) echo "$U_VARNISH" ;; nginx-nolock) echo "$U_NOLOCK" ;; direct) echo "$U_DIRECT" ;; esac; }

# --- objects -------------------------------------------------------------------
SEG=/live/bench/video/seg100.m4s
PART=/live/bench/video/part100.0.m4s
PLAYLIST=/live/bench/video/index.m3u8
path_of() { case $1 in segment) echo $SEG ;; part) echo $PART ;; playlist | playlist-gzip) echo $PLAYLIST ;; esac; }
size_of() { case $1 in segment) echo 1048576 ;; part) echo 102400 ;; playlist) echo 1024 ;; playlist-gzip) echo 0 ;; esac; }
label_of() { case $1 in segment) echo "1 MiB segment" ;; part) echo "100 KiB part" ;; playlist) echo "1 KiB playlist" ;; playlist-gzip) echo "1 KiB playlist, gzip" ;; esac; }

# --- processes -----------------------------------------------------------------
"${CLI[@]}" "$WORK/bin/upstream" -listen "127.0.0.1:$U_LIVECDN,127.0.0.1:$U_NGINX,127.0.0.1:$U_VARNISH,127.0.0.1:$U_NOLOCK,127.0.0.1:$U_DIRECT" \
	-delay "$FLASH_DELAY" -delay-prefix /flash/ 2>"$WORK/upstream.log" &
PIDS+=($!)

wait_up() { # url name
	local i
	for i in $(seq 100); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	die "$2 did not come up at $1 (logs in $WORK; KEEP=1 keeps them)"
}
wait_up "http://127.0.0.1:$U_DIRECT/_stats" upstream

GOMAXPROCS=$((WORKERS == 1 ? 1 : $(nproc))) "${SRV[@]}" "$WORK/bin/livecdn" edge --http "127.0.0.1:$P_LIVECDN" --origin "http://127.0.0.1:$U_LIVECDN" \
	--cache-size "${CACHE_SIZE_MIB}MiB" --log-level warn --node-name bench 2>"$WORK/livecdn.log" &
LIVECDN_PID=$!
PIDS+=("$LIVECDN_PID")

mkdir -p "$WORK/nginx" "$SHM/nginx"
user_line=""
[ "$(id -u)" -ne 0 ] || user_line="user root root;"
sed -e "s|@DIR@|$WORK/nginx|g" -e "s|@CACHE@|$SHM/nginx|g" -e "s|@USER@|$user_line|" \
	-e "s|@PORT@|$P_NGINX|" -e "s|@NOLOCK_PORT@|$P_NOLOCK|" -e "s|@NOPUSH@|$NGINX_NOPUSH|" -e "s|@WORKERS@|$WORKERS|" \
	-e "s|@UPSTREAM@|127.0.0.1:$U_NGINX|" -e "s|@NOLOCK_UPSTREAM@|127.0.0.1:$U_NOLOCK|" \
	"$NGINX_CONF" >"$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/nginx-error.log" -t 2>"$WORK/nginx/test.log" ||
	{ cat "$WORK/nginx/test.log" >&2; die "nginx -t"; }
"${SRV[@]}" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/nginx-error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

sed "s|@UPSTREAM_PORT@|$U_VARNISH|" "$VARNISH_VCL" >"$WORK/varnish.vcl"
"${SRV[@]}" varnishd -F -j none -n "$WORK/varnish" -a "127.0.0.1:$P_VARNISH" -f "$WORK/varnish.vcl" \
	-s "malloc,${CACHE_SIZE_MIB}m" -p thread_pools=2 -p thread_pool_min=600 -p thread_pool_max=5000 \
	-p listen_depth=4096 >"$WORK/varnish.log" 2>&1 &
VARNISH_PID=$!
PIDS+=("$VARNISH_PID")

wait_up "http://127.0.0.1:$P_LIVECDN/healthz" livecdn
wait_up "http://127.0.0.1:$P_NGINX$PART" nginx
wait_up "http://127.0.0.1:$P_NOLOCK$PART" nginx-nolock
wait_up "http://127.0.0.1:$P_VARNISH$PART" varnish

upcount() { curl -sf "http://127.0.0.1:$(uport_of "$1")/_stats?path=$2"; }

# --- correctness: status, length, bytes; served from cache ---------------------
log "checking every object through every cache"
for obj in segment part playlist; do
	p=$(path_of $obj)
	curl -sf -o "$WORK/ref.$obj" "http://127.0.0.1:$U_DIRECT$p"
	want=$(sha256sum <"$WORK/ref.$obj" | cut -d' ' -f1)
	for cache in $CACHES nginx-nolock; do
		for try in 1 2; do
			read -r code len xc < <(curl -s -o "$WORK/got" -D "$WORK/hdr" -w '%{http_code} %{size_download} ' "http://127.0.0.1:$(port_of "$cache")$p" &&
				(grep -i '^x-cache:' "$WORK/hdr" | tr -d '\r' | awk '{print $2}'; echo -))
			[ "$code" = 200 ] || die "$cache $p: status $code"
			[ "$len" = "$(size_of $obj)" ] || die "$cache $p: $len bytes, want $(size_of $obj)"
			[ "$(sha256sum <"$WORK/got" | cut -d' ' -f1)" = "$want" ] || die "$cache $p: body differs from the upstream's"
			if [ "$try" = 2 ] && [ "$obj" != playlist ] && [ "$xc" != HIT ]; then die "$cache $p: second request X-Cache $xc, want HIT"; fi
		done
		n=$(upcount "$cache" "$p")
		[ "$obj" = playlist ] || [ "$n" = 1 ] || die "$cache $p: $n upstream requests, want 1"
	done
done
log "all caches: 200, right length and bytes, media served from cache (1 upstream request each)"

# --- throughput ------------------------------------------------------------------
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print "nan" }'; }
to_bytes() { awk -v v="$1" 'BEGIN{ m=1; if (v ~ /KB$/) m=1024; else if (v ~ /MB$/) m=1048576; else if (v ~ /GB$/) m=1073741824; printf "%.0f", v*m }'; }

RESULTS=$WORK/results.tsv
: >"$RESULTS"
LOADS=$WORK/loads.txt
: >"$LOADS"
# cpu_ticks cache: CPU time (user+system, clock ticks) used so far by the
# cache's processes (livecdn; the nginx master and workers; varnishd and its
# child). On a shared box a cache's req/s also depends on how much CPU the
# scheduler gives it (Linux shares CPU per thread: Varnish runs hundreds of
# threads, nginx 2 workers, livecdn ~GOMAXPROCS=2 busy threads), so the
# report also gives the CPU each cache spent per response.
cpu_ticks() {
	local pid pids=()
	case $1 in
	livecdn) pids=("$LIVECDN_PID") ;;
	nginx) pids=("$NGINX_PID" $(ps --ppid "$NGINX_PID" -o pid=)) ;;
	varnish) pids=("$VARNISH_PID" $(ps --ppid "$VARNISH_PID" -o pid=)) ;;
	esac
	for pid in "${pids[@]}"; do awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null || echo 0; done | awk '{s+=$1} END{print s+0}'
}
CLK_TCK=$(getconf CLK_TCK)

has() { case " $CACHES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
lean() { case " $LEAN " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
client_of() { if lean "$1"; then echo "load"; else echo "wrk -t$THREADS"; fi; }

run_wrk() { # obj conns cache rep duration [record]
	local obj=$1 c=$2 cache=$3 rep=$4 dur=$5 record=${6:-1} p out hdr=() before after cpu0 cpu1
	p=$(path_of "$obj")
	[ "$obj" != playlist-gzip ] || hdr=(-H "Accept-Encoding: gzip")
	out=$WORK/wrk/$obj-$c-$cache-$rep.txt
	before=$(upcount "$cache" "$p")
	cut -d' ' -f1 /proc/loadavg >>"$LOADS"
	cpu0=$(cpu_ticks "$cache")
	if lean "$obj"; then
		"${CLI[@]}" "$WORK/bin/load" -c "$c" -d "$dur" "${hdr[@]}" "http://127.0.0.1:$(port_of "$cache")$p" >"$out" 2>&1 ||
			die "load failed: $(cat "$out")"
	else
		"${CLI[@]}" wrk -t"$THREADS" -c"$c" -d"$dur" --latency "${hdr[@]}" "http://127.0.0.1:$(port_of "$cache")$p" >"$out" 2>&1 ||
			die "wrk failed: $(cat "$out")"
	fi
	cpu1=$(cpu_ticks "$cache")
	after=$(upcount "$cache" "$p")
	[ "$record" = 1 ] || return 0
	local rps p50 p99 tps non2xx errs bpr reqs cpk
	rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
	p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$out")")
	p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$out")")
	tps=$(to_bytes "$(awk '/^Transfer\/sec:/{print $2}' "$out")")
	non2xx=$(awk '/Non-2xx/{print $NF}' "$out")
	errs=$(awk '/Socket errors/{gsub(",",""); print $4+$6+$8+$10}' "$out")
	bpr=$(awk -v t="$tps" -v r="$rps" 'BEGIN{ if (r > 0) printf "%.0f", t/r; else print 0 }')
	reqs=$(awk '/requests in/{print $1}' "$out")
	cpk=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN{ if (n > 0) printf "%.1f", (b-a)*1000/hz/n*1000; else print "nan" }')
	[ -z "$non2xx" ] || die "$cache $obj c=$c: $non2xx non-2xx responses"
	local want
	want=$(size_of "$obj")
	# wrk counts the bytes of responses still in flight when it stops: at
	# c=1000 and 1 MiB that is several percent of a short run.
	if [ "$want" -gt 0 ] && { [ "$bpr" -lt $((want * 95 / 100)) ] || [ "$bpr" -gt $((want + 2048 + want / 10)) ]; }; then
		die "$cache $obj c=$c: $bpr bytes per response, want about $want"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$obj" "$c" "$cache" "$rep" "$rps" "$p50" "$p99" "$bpr" \
		$((after - before)) "${errs:-0}" "$cpk" >>"$RESULTS"
	log "$(printf '%-13s c=%-4s %-8s #%s %10s req/s  p99 %8s ms  %6s B/resp  upstream +%s  sock-err %s  cpu %s ms/1000' \
		"$obj" "$c" "$cache" "$rep" "$rps" "$p99" "$bpr" $((after - before)) "${errs:-0}" "$cpk")"
}

points=()
for obj in $OBJECTS; do for c in $CONNS; do points+=("$obj $c"); done; done
for c in $GZIP_CONNS; do points+=("playlist-gzip $c"); done

log "warming up (2 s per cache and object at c=200, then 2 s at c=1000)"
for obj in $OBJECTS; do
	for cache in $CACHES; do run_wrk "$obj" 200 "$cache" 0 2s 0; done
done
for cache in $CACHES; do run_wrk segment 1000 "$cache" 0 2s 0; done

START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
START_LOAD=$(cat /proc/loadavg)
log "throughput: ${#points[@]} points x $REPEATS repeats x caches ($CACHES), $DURATION each"
for pt in "${points[@]}"; do
	read -r obj c <<<"$pt"
	for rep in $(seq "$REPEATS"); do
		for cache in $CACHES; do run_wrk "$obj" "$c" "$cache" "$rep" "$DURATION"; done
	done
done
END_LOAD=$(cat /proc/loadavg)

# --- flash crowd -------------------------------------------------------------------
FLASH=$WORK/flash.tsv
: >"$FLASH"
if [ "$FLASH_N" -gt 0 ]; then
	for fobj in $FLASH_OBJECTS; do
		log "flash crowd: $FLASH_N first-time requests for a new $(label_of "$fobj"), upstream delay $FLASH_DELAY"
		prefix=seg ext=m4s
		[ "$fobj" != part ] || prefix=part
		[ "$fobj" != playlist ] || prefix=index ext=m3u8
		for rep in $(seq "$FLASH_REPEATS"); do
			# direct: no cache, the crowd goes to the upstream itself (every
			# request waits FLASH_DELAY in parallel): the floor this client
			# reaches on this box, which no cache can beat. livecdn-hit: the
			# same crowd for an object livecdn already holds (no upstream):
			# what delivering this many bodies at once costs by itself.
			hit=""
			has livecdn && [ "$fobj" != playlist ] && hit=livecdn-hit # a cached playlist expires within the crowd's set-up
			for cache in $CACHES nginx-nolock direct $hit; do
				p=/flash/live/bench/video/$prefix$rep$$$RANDOM-$cache.$ext
				[ "$cache" != livecdn-hit ] || p=$(path_of "$fobj")
				b=$(upcount "$cache" "$p")
				line=$("${CLI[@]}" "$WORK/bin/flash" -base "http://127.0.0.1:$(port_of "$cache")" -warm "$PART" -path "$p" \
					-n "$FLASH_N" -bytes "$(size_of "$fobj")" 2>>"$WORK/flash.log") || die "flash client failed on $cache (see $WORK/flash.log)"
				n=$(($(upcount "$cache" "$p") - b))
				log "flash $fobj $cache #$rep: $line upstream=$n"
				printf '%s\t%s\t%s upstream=%s\t%s\n' "$cache" "$rep" "$line" "$n" "$fobj" >>"$FLASH"
			done
		done
	done
fi

# --- memory ---------------------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }
children_rss_kib() { # sum of the RSS of pid's children (nginx workers, the varnish child)
	ps --ppid "$1" -o rss= | awk '{s+=$1} END{print s+0}'
}
# livecdn keeps complete media in memory files (memfd), which are not in
# VmRSS until mapped: count them from its metric and report the sum.
file_mib() { curl -sf "http://127.0.0.1:$P_LIVECDN/metrics" | awk '/^livecdn_edge_cache_file_bytes /{printf "%.0f", $2/1048576}'; }
livecdn_mem() {
	local rss fm
	rss=$(($(rss_kib "$LIVECDN_PID") / 1024)) fm=$(file_mib)
	echo "  livecdn VmRSS $rss MiB (VmHWM $(($(hwm_kib "$LIVECDN_PID") / 1024)) MiB) + memory files $fm MiB = $((rss + ${fm:-0})) MiB"
}
MEM=$WORK/mem.txt
{
	echo "after the throughput and flash runs:"
	livecdn_mem
} >"$MEM"
if [ "$FILL" = 1 ]; then
	nfill=$((CACHE_SIZE_MIB * 3 / 2))
	log "pushing $nfill distinct 1 MiB segments (1.5x the ${CACHE_SIZE_MIB} MiB cache) through each cache"
	for cache in $CACHES; do
		"${CLI[@]}" "$WORK/bin/flash" -base "http://127.0.0.1:$(port_of "$cache")" -path "/live/fill/seg%d.m4s" -fill "$nfill" -c 8 \
			-bytes 1048576 >>"$WORK/fill.log" 2>&1 || die "fill through $cache failed"
	done
	sleep 1
	cache_bytes=$(curl -sf "http://127.0.0.1:$P_LIVECDN/metrics" | awk '/^livecdn_edge_cache_bytes /{printf "%.0f", $2/1048576}')
	{
		echo "after $nfill MiB more (1.5x --cache-size ${CACHE_SIZE_MIB}MiB) went through each cache:"
		echo "$(livecdn_mem), livecdn_edge_cache_bytes $cache_bytes MiB"
		echo "  varnishd child VmRSS $(($(children_rss_kib "$VARNISH_PID") / 1024)) MiB (-s malloc,${CACHE_SIZE_MIB}m)"
		echo "  nginx workers VmRSS $(($(children_rss_kib "$NGINX_PID") / 1024)) MiB (cache files on tmpfs: $(du -sm "$SHM/nginx/live" | cut -f1) MiB, not in RSS)"
	} >>"$MEM"
fi

# --- report -------------------------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
col() { # obj conns cache column → median over repeats
	awk -F'\t' -v o="$1" -v c="$2" -v k="$3" -v f="$4" '$1==o && $2==c && $3==k {print $f}' "$RESULTS" | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0 && a == a+0) printf "%.2f", a/b; else print "-" }'; }
fmt_rps() { awk -v v="$1" 'BEGIN{ if (v == v+0) printf "%.0f", v; else print "-" }'; }

report() {
	echo "## Throughput (-d$DURATION, keep-alive; median of $REPEATS runs; req/s)"
	echo
	echo "| object | client | conns | livecdn | nginx | varnish | livecdn/nginx | livecdn/varnish |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	local pt obj c l n v
	for pt in "${points[@]}"; do
		read -r obj c <<<"$pt"
		l=$(col "$obj" "$c" livecdn 5) n=$(col "$obj" "$c" nginx 5) v=$(col "$obj" "$c" varnish 5)
		echo "| $(label_of "$obj") | $(client_of "$obj") | $c | $(fmt_rps "$l") | $(fmt_rps "$n") | $(fmt_rps "$v") | $(ratio "$l" "$n") | $(ratio "$l" "$v") |"
	done
	echo
	echo "## Server CPU per 1000 responses (user+system ms of the cache's processes during each run, median of $REPEATS runs)"
	echo
	echo "Lower is better; less sensitive to the box's other load than req/s: what each response cost the cache."
	echo
	echo "| object | conns | livecdn | nginx | varnish | livecdn/nginx | livecdn/varnish |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	for pt in "${points[@]}"; do
		read -r obj c <<<"$pt"
		l=$(col "$obj" "$c" livecdn 11) n=$(col "$obj" "$c" nginx 11) v=$(col "$obj" "$c" varnish 11)
		echo "| $(label_of "$obj") | $c | $l | $n | $v | $(ratio "$l" "$n") | $(ratio "$l" "$v") |"
	done
	echo
	echo "## Latency under that load (median of $REPEATS runs; p50 / p99 in ms)"
	echo
	echo "| object | conns | livecdn | nginx | varnish |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	for pt in "${points[@]}"; do
		read -r obj c <<<"$pt"
		local row="| $(label_of "$obj") | $c"
		for k in livecdn nginx varnish; do
			if has $k; then row="$row | $(col "$obj" "$c" $k 6) / $(col "$obj" "$c" $k 7)"; else row="$row | -"; fi
		done
		echo "$row |"
	done
	echo
	echo "Upstream requests during all measured runs, per cache and object (media must stay 0:"
	echo "served from cache; playlists have max-age=1, so about one per second of run):"
	echo
	for k in $CACHES; do
		printf '%s' "- $k:"
		for obj in $OBJECTS $( [ -n "$GZIP_CONNS" ] && echo playlist-gzip); do
			printf ' %s %s,' "$obj" "$(awk -F'\t' -v o="$obj" -v k="$k" '$1==o && $3==k {s+=$9} END{print s+0}' "$RESULTS")"
		done
		printf ' socket errors %s\n' "$(awk -F'\t' -v k="$k" '$3==k {s+=$10} END{print s+0}' "$RESULTS")"
	done
	echo
	if [ -s "$FLASH" ]; then
		echo "## Flash crowd ($FLASH_N simultaneous first-time requests for one new object, upstream delay $FLASH_DELAY; median of $FLASH_REPEATS runs)"
		echo
		echo "From the crowd's start: time to first byte and to last byte. Per request: from that request's own send (the latency each viewer saw)."
		echo
		echo "| object | cache | from start: first byte p50 / p99 (ms) | last byte p50 / p99 (ms) | max (ms) | per request: first byte p50 / p99 (ms) | last byte p50 / p99 (ms) | upstream requests per object | X-Cache (last run) |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
		for fobj in $FLASH_OBJECTS; do
			for k in $CACHES nginx-nolock direct livecdn-hit; do
				[ -n "$(awk -F'\t' -v k="$k" -v o="$fobj" '$1==k && $4==o' "$FLASH")" ] || continue
				f() { awk -F'\t' -v k="$k" -v o="$fobj" -v key="$1" '$1==k && $4==o { n=split($3, kv, " "); for (i=1;i<=n;i++) { split(kv[i], x, "="); if (x[1]==key) print x[2] } }' "$FLASH" | median; }
				xc=$(awk -F'\t' -v k="$k" -v o="$fobj" '$1==k && $4==o { n=split($3, kv, " "); for (i=1;i<=n;i++) { split(kv[i], x, "="); if (x[1]=="xcache") last=x[2] } } END{print last}' "$FLASH")
				bad=$(awk -F'\t' -v k="$k" -v o="$fobj" '$1==k && $4==o { n=split($3, kv, " "); for (i=1;i<=n;i++) { split(kv[i], x, "="); if (x[1]=="bad") s+=x[2] } } END{print s+0}' "$FLASH")
				name=$k
				[ "$k" != nginx-nolock ] || name="nginx, proxy_cache_lock off"
				[ "$k" != direct ] || name="no cache (the upstream itself: this client's floor)"
				[ "$k" != livecdn-hit ] || name="livecdn, object already cached (no upstream: delivery alone)"
				echo "| $(label_of "$fobj") | $name | $(f ttfb_p50) / $(f ttfb_p99) | $(f p50) / $(f p99) | $(f max) | $(f wait_p50) / $(f wait_p99) | $(f last_p50) / $(f last_p99) | $(f upstream) | $xc$([ "$bad" = 0 ] || echo ", $bad failed") |"
			done
		done
		echo
	fi
	echo "## Memory"
	echo
	sed 's/^/    /' "$MEM"
	echo
	echo "## Machine"
	echo
	echo "- date: $START_DATE; $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; $(uname -sr)"
	echo "- load average at start: $START_LOAD; at end: $END_LOAD; 1-min load sampled before each wrk run: min $(sort -g "$LOADS" | head -1), median $(median <"$LOADS"), max $(sort -g "$LOADS" | tail -1)"
	echo "- $(nginx -v 2>&1); $(varnishd -V 2>&1 | head -1); $(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//'); $(go version); livecdn $LIVECDN_REV (built at the start)"
	if [ "$PIN" = 1 ]; then
		echo "- nginx tcp_nopush $NGINX_NOPUSH; cache size ${CACHE_SIZE_MIB} MiB each; PIN=1: each cache alone on CPU 0 (livecdn GOMAXPROCS=1, nginx 1 worker, varnishd's threads), wrk, the flash client and the upstream on CPU 1"
	else
		echo "- nginx tcp_nopush $NGINX_NOPUSH; cache size ${CACHE_SIZE_MIB} MiB each; wrk, the caches and the upstream share the 2 cores"
	fi
}
report >"$WORK/report.md"
[ -z "$REPORT" ] || cp "$WORK/report.md" "$REPORT"
cat "$WORK/report.md"
