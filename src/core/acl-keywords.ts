/**
 * The closed lists a rule's ACL is checked against: the HAProxy 2.6 sample fetches, ACL keywords and converters
 * that make sense in the frontend that routes (request side, no side effects, nothing that reads a file, an
 * environment variable, a variable, a stick table or a userlist). Taken from HAProxy 2.6's configuration.txt,
 * sections 7.1 (flags, match methods), 7.3.1 (converters), 7.3.2–7.3.6 (fetches and their "ACL derivatives").
 * `test/integration/acl-keywords.test.ts` has real `haproxy -c` accept every entry, so a name HAProxy does not know
 * cannot sit here.
 *
 * Left out on purpose: `env()` (reads culm's environment), `map*`/`-M`-like converters and `jwt_verify` (read
 * files), `var()`/`set-var`/`concat`/`strcmp` (variables), `table_*`/`sc*_`/`src_*` counters and `in_table`
 * (need tables), `http_auth*` (need userlists), `debug`/`lua.*` (side effects), `res.*`/`status` (response side:
 * never known when a backend is chosen), `regsub`/`ltime`/`utime`/`digest`/`hmac` (their arguments need
 * characters a rule's arguments may not hold).
 */

/** Whether a keyword takes arguments in parentheses. */
export type ArgUse = 'none' | 'optional' | 'required';

const withArgs = (use: ArgUse) => (names: string): Record<string, ArgUse> =>
  Object.fromEntries(names.split(/\s+/).filter(Boolean).map((n) => [n, use]));
const none = withArgs('none');
const optional = withArgs('optional');
const required = withArgs('required');

/** Fetches and ACL keywords, by name. */
export const FETCHES: Readonly<Record<string, ArgUse>> = Object.freeze({
  // 7.3.2 internal states
  ...none('always_true always_false stopping'),
  ...optional('nbsrv be_conn be_conn_free be_sess_rate connslots queue avg_queue fe_conn fe_req_rate fe_sess_rate'),
  ...required('srv_is_up srv_conn srv_queue srv_sess_rate'),
  // 7.3.3 layer 4
  ...none('src src_port src_is_local dst dst_port dst_is_local dst_conn fe_id fe_name so_id so_name'),
  // 7.3.4 layer 5 (TLS, on `bind … ssl` frontends)
  ...none(`ssl_fc ssl_fc_sni ssl_fc_sni_end ssl_fc_sni_reg ssl_fc_alpn ssl_fc_npn ssl_fc_protocol ssl_fc_cipher
    ssl_fc_has_sni ssl_fc_has_crt ssl_fc_has_early ssl_fc_is_resumed ssl_fc_use_keysize ssl_fc_alg_keysize
    ssl_c_used ssl_c_verify ssl_c_err ssl_c_ca_err ssl_c_ca_err_depth ssl_c_version ssl_c_serial ssl_c_sha1`),
  ...optional('ssl_c_s_dn ssl_c_i_dn'),
  // 7.3.5 layer 6 (buffer contents)
  ...none(`req.ssl_sni req_ssl_sni req.ssl_ver req_ssl_ver req.ssl_hello_type req_ssl_hello_type req.ssl_alpn
    req.ssl_ec_ext req.ssl_st_ext req.len req_len req.proto_http req_proto_http wait_end`),
  ...optional('req.rdp_cookie rdp_cookie req.rdp_cookie_cnt rdp_cookie_cnt'),
  ...required('req.payload payload req.payload_lv payload_lv'),
  // 7.3.6 layer 7, with the ACL derivatives (the match method folded into the name)
  ...none(`base base_beg base_dir base_dom base_end base_len base_reg base_sub base32 base32+src baseq
    path path_beg path_dir path_dom path_end path_len path_reg path_sub pathq query
    url url_beg url_dir url_dom url_end url_len url_reg url_sub url_ip url_port url32 url32+src
    method req.ver req_ver http_first_req req.hdrs req.body_len req.body_size`),
  ...optional(`hdr hdr_beg hdr_dir hdr_dom hdr_end hdr_len hdr_reg hdr_sub hdr_cnt hdr_ip hdr_val
    req.hdr req.hdr_cnt req.hdr_ip req.hdr_val req.fhdr req.fhdr_cnt req.hdr_names
    cook cook_beg cook_dir cook_dom cook_end cook_len cook_reg cook_sub cook_cnt cook_val cookie
    req.cook req.cook_cnt req.cook_val
    urlp urlp_beg urlp_dir urlp_dom urlp_end urlp_len urlp_reg urlp_sub urlp_val url_param`),
});

/** Converters (`fetch,converter(args)`), by name. */
export const CONVERTERS: Readonly<Record<string, ArgUse>> = Object.freeze({
  ...none(`lower upper length hex hex2i base64 b64dec ub64dec ub64enc host_only port_only json
    sha1 cpl neg not odd even bool htonl cut_crlf`),
  ...optional('url_dec url_enc crc32 crc32c djb2 sdbm wt6 xxh32 xxh64 xxh3 sha2 be2hex http_date'),
  ...required('bytes field word ipmask ltrim rtrim add sub mul div mod and or xor language iif be2dec'),
});

/** `-m <method>` (section 7.1). */
export const MATCH_METHODS: readonly string[] = Object.freeze(['found', 'bool', 'int', 'ip', 'bin', 'len', 'str', 'sub', 'reg', 'beg', 'end', 'dir', 'dom']);

/**
 * Fetches whose patterns are IP addresses. HAProxy resolves a pattern that is not an address as a host name
 * while it parses the config (section 7.1, "-n"): a rule could make every check wait on DNS.
 */
export const IP_FETCHES: ReadonlySet<string> = new Set(['src', 'dst', 'hdr_ip', 'req.hdr_ip', 'url_ip']);
