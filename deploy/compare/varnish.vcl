# Varnish in front of the bench upstream (deploy/compare/run.sh), the fairest
# live-segment config we know. run.sh replaces @UPSTREAM_PORT@ and starts
#   varnishd -F -j none -n DIR -a 127.0.0.1:PORT -f this.vcl -s malloc,256m
#            -p thread_pools=2 -p thread_pool_min=600 -p thread_pool_max=5000
#            -p listen_depth=4096
# as the current user (no system service). Varnish already coalesces
# concurrent misses (waiting list) and streams the body to every waiter while
# it arrives (beresp.do_stream, made explicit below).
vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "@UPSTREAM_PORT@";
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Immutable media: cached by path alone, any query ignored (as livecdn).
    if (req.url ~ "(?i)\.(m4s|mp4|m4a|m4v|cmfv|cmfa|ts|aac|vtt|webvtt)(\?.*)?$") {
        set req.url = regsub(req.url, "\?.*$", "");
    }
    # Viewers' cookies or auth must not split the cache of public objects.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_backend_response {
    set beresp.do_stream = true;
    if (beresp.status == 404) {
        set beresp.ttl = 100ms;
        set beresp.grace = 0s;
    } else if (bereq.url ~ "(?i)\.(m3u8|mpd)(\?.*)?$") {
        # Served stale while one fetch refreshes it, and while the origin
        # fails (livecdn: --stale-if-error 6s).
        set beresp.grace = 6s;
    } else {
        # Immutable media: TTL from Cache-Control (1 year); never stale.
        set beresp.grace = 0s;
    }
    # Stored as sent: compressing playlists in the store (do_gzip) would make
    # Varnish gunzip them for every viewer that does not accept gzip.
    return (deliver);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
