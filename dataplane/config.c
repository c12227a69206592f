/* SPDX-License-Identifier: Apache-2.0
 * weir configuration parser and validator (libinih does the INI syntax). */
#include "config.h"
#include "sql.h"
#include "keymap.h"
#include "itch.h"
#include "lineproto.h"
#include <time.h>
#include <sys/stat.h>

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <ini.h>

/* ---- phase 1: collect (section, key, value, line) entries ------------------ */

struct entry {
	char *section;
	char *key;
	char *value;
	int line;                  /* its last line (continuation lines) */
	bool used;
	int first;                 /* its first line */
};

struct parse {
	const char *file;
	FILE *err;
	int nerr;
	/* reader state: libinih does not report line numbers, so our reader counts */
	int line;
	bool long_line;
	int admin_line;            /* line of an [admin] header (a section that may be empty) */
	const char *text;          /* in-memory source, or NULL */
	size_t pos;
	FILE *fp;
	struct entry *e;
	int ne, cap;
	char **raw;                /* every line as read (SQL errors point into them) */
	int nraw, capraw;
};

static void cfg_error(struct parse *p, int line, const char *section, const char *key,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
cfg_error(struct parse *p, int line, const char *section, const char *key, const char *fmt, ...)
{
	va_list ap;

	fprintf(p->err, "%s:%d: ", p->file, line);
	if (section)
		fprintf(p->err, "[%s] ", section);
	if (key)
		fprintf(p->err, "%s: ", key);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->err);
	p->nerr++;
}

static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	int i = 0;

	if (p->text) {
		if (p->text[p->pos] == '\0')
			return NULL;
		while (i < num - 1 && p->text[p->pos] != '\0') {
			char c = p->text[p->pos++];
			str[i++] = c;
			if (c == '\n')
				break;
		}
		str[i] = '\0';
	} else if (!fgets(str, num, p->fp)) {
		return NULL;
	}
	i = (int)strlen(str);
	/* A chunk that filled the buffer without a newline is a line libinih would
	 * split in two: refuse it rather than parse half a value. */
	if (i == num - 1 && str[i - 1] != '\n') {
		if (!p->long_line)
			cfg_error(p, p->line + 1, NULL, NULL,
				  "line longer than %d characters (use a continuation line)", num - 2);
		p->long_line = true;
		str[0] = '\0';
		return str;
	}
	if (p->long_line) {         /* tail of an over-long line */
		p->long_line = false;
		p->line++;
		str[0] = '\0';
		return str;
	}
	p->line++;
	if (p->nraw == p->capraw) {
		int cap = p->capraw ? 2 * p->capraw : 256;
		char **r = realloc(p->raw, (size_t)cap * sizeof(*r));
		if (r) {
			p->raw = r;
			p->capraw = cap;
		}
	}
	if (p->nraw < p->capraw)
		p->raw[p->nraw++] = strdup(str);        /* (NULL if out of memory: no caret) */
	/* libinih reports keys, not sections: note an [admin] header, which turns the
	 * server on with every default even with no key under it */
	const char *b = str + strspn(str, " \t");
	if (!p->admin_line && !strncmp(b, "[admin]", 7) && strchr("\n;#", b[7 + strspn(b + 7, " \t\r")]))
		p->admin_line = p->line;
	return str;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct entry *last = p->ne ? &p->e[p->ne - 1] : NULL;

	if (!name)           /* INI_CALL_HANDLER_ON_NEW_SECTION builds */
		return 1;
	/* libinih reports a continuation line as the same key again: append it. */
	if (last && last->line == p->line - 1 && !strcmp(last->section, section) &&
	    !strcmp(last->key, name)) {
		size_t n = strlen(last->value) + strlen(value) + 2;
		char *v = malloc(n);
		if (!v)
			return 0;
		/* SQL keeps its lines (an error's line:column counts them) */
		snprintf(v, n, "%s%c%s", last->value, strcmp(name, "sql") ? ' ' : '\n', value);
		free(last->value);
		last->value = v;
		last->line = p->line;
		return 1;
	}
	if (p->ne == p->cap) {
		int cap = p->cap ? 2 * p->cap : 64;
		struct entry *e = realloc(p->e, (size_t)cap * sizeof(*e));
		if (!e)
			return 0;
		p->e = e;
		p->cap = cap;
	}
	p->e[p->ne] = (struct entry){ strdup(section), strdup(name), strdup(value), p->line, false, p->line };
	if (!p->e[p->ne].section || !p->e[p->ne].key || !p->e[p->ne].value)
		return 0;
	p->ne++;
	return 1;
}

/* ---- small value parsers --------------------------------------------------- */

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int
weir_parse_duration(const char *s, int64_t *ns)
{
	static const struct { const char *u; int64_t mul; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
		{ "m", INT64_C(60000000000) }, { "h", INT64_C(3600000000000) },
	};
	char *end;
	unsigned long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end == '\0') {
		if (v != 0)
			return -1;  /* a bare number is ambiguous unless it is 0 */
		*ns = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].u);
		if (strncmp(end, units[i].u, n) != 0)
			continue;
		const char *t = end + n;
		while (isspace((unsigned char)*t))
			t++;
		if (*t != '\0')
			continue;
		if (v > (unsigned long long)(WEIR_DUR_MAX / units[i].mul))
			return -1;
		*ns = (int64_t)v * units[i].mul;
		return 0;
	}
	return -1;
}

/* A byte size: digits and an optional unit: B, KiB, MiB, GiB (K, M, G the same). */
static int
parse_size(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	static const struct { const char *u; int shift; } units[] = {
		{ "", 0 }, { "B", 0 }, { "K", 10 }, { "KiB", 10 }, { "M", 20 }, { "MiB", 20 }, { "G", 30 }, { "GiB", 30 },
	};
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s || errno || *s == '-' || *s == '+')
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].u))
			continue;
		if (v > (unsigned long long)INT64_MAX >> units[i].shift)
			return -1;
		int64_t x = (int64_t)(v << units[i].shift);
		if (x < lo || x > hi)
			return -1;
		*out = x;
		return 0;
	}
	return -1;
}

static int
parse_bool(const char *s, bool *b)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1"))
		*b = true;
	else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcmp(s, "0"))
		*b = false;
	else
		return -1;
	return 0;
}

static bool
valid_name(const char *s)
{
	if (!*s || strlen(s) >= WEIR_NAME_MAX)
		return false;
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* ---- phase 2: validate per section ----------------------------------------- */

#define E(ent, ...) cfg_error(p, (ent)->line, (ent)->section, (ent)->key, __VA_ARGS__)

static int
parse_cpu_list(struct parse *p, struct entry *en, struct weir_config *cfg)
{
	char buf[1024], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", en->value);
	cfg->ncpus = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int64_t a, b;
		char *dash;

		tok = trim(tok);
		dash = strchr(tok, '-');
		if (dash) {
			*dash = '\0';
			if (parse_i64(trim(tok), 0, WEIR_MAX_CPUS - 1, &a) ||
			    parse_i64(trim(dash + 1), 0, WEIR_MAX_CPUS - 1, &b) || b < a) {
				E(en, "bad CPU range '%s-%s' (expected auto, or a list like 0,2-5)", tok, dash + 1);
				return -1;
			}
		} else if (parse_i64(tok, 0, WEIR_MAX_CPUS - 1, &a)) {
			E(en, "bad CPU '%s' (expected auto, or a list like 0,2-5)", tok);
			return -1;
		} else {
			b = a;
		}
		for (int64_t c = a; c <= b; c++) {
			/* whether the CPU exists and is online is checked against the
			 * topology by the placement plan (numa/) */
			if (cfg->ncpus == WEIR_MAX_CPUS) {
				E(en, "too many CPUs");
				return -1;
			}
			cfg->cpus[cfg->ncpus++] = (int)c;
		}
	}
	if (cfg->ncpus == 0) {
		E(en, "empty CPU list");
		return -1;
	}
	return 0;
}

static void
do_dataplane(struct parse *p, struct entry *en, struct weir_config *cfg)
{
	const char *k = en->key;
	char *v = en->value;
	int64_t x;

	if (!strcmp(k, "devices")) {
		char buf[WEIR_MAX_DEVICES * WEIR_PATH_MAX], *save = NULL, *tok;
		snprintf(buf, sizeof(buf), "%s", v);
		cfg->ndevices = 0;
		for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
			tok = trim(tok);
			if (!*tok)
				continue;
			if (cfg->ndevices == WEIR_MAX_DEVICES) {
				E(en, "more than %d devices", WEIR_MAX_DEVICES);
				return;
			}
			if (strlen(tok) >= WEIR_PATH_MAX) {
				E(en, "device string too long");
				return;
			}
			snprintf(cfg->devices[cfg->ndevices++], WEIR_PATH_MAX, "%s", tok);
		}
		if (cfg->ndevices == 0)
			E(en, "no device given");
	} else if (!strcmp(k, "rx_cores")) {
		if (parse_i64(v, 1, 64, &x))
			E(en, "'%s' is not a number of cores in 1..64", v);
		else
			cfg->rx_cores = (int)x;
	} else if (!strcmp(k, "workers")) {
		if (parse_i64(v, 1, 128, &x))
			E(en, "'%s' is not a number of workers in 1..128", v);
		else
			cfg->workers = (int)x;
	} else if (!strcmp(k, "lcores")) {
		if (!strcmp(v, "auto") || !*v)
			cfg->ncpus = 0;
		else
			parse_cpu_list(p, en, cfg);
	} else if (!strcmp(k, "hugepages")) {
		bool b;
		if (!strcmp(v, "auto"))
			cfg->hugepages = WEIR_HP_AUTO;
		else if (!parse_bool(v, &b))
			cfg->hugepages = b ? WEIR_HP_ON : WEIR_HP_OFF;
		else
			E(en, "'%s': expected auto, on or off", v);
	} else if (!strcmp(k, "backpressure")) {
		if (!strcmp(v, "block"))
			cfg->backpressure = WEIR_BP_BLOCK;
		else if (!strcmp(v, "drop"))
			cfg->backpressure = WEIR_BP_DROP;
		else
			E(en, "'%s': expected block or drop", v);
	} else if (!strcmp(k, "exit_on_eos")) {
		if (parse_bool(v, &cfg->exit_on_eos))
			E(en, "'%s': expected true or false", v);
	} else if (!strcmp(k, "eal_args")) {
		if (strlen(v) >= sizeof(cfg->eal_args))
			E(en, "too long");
		else
			snprintf(cfg->eal_args, sizeof(cfg->eal_args), "%s", v);
	} else if (!strcmp(k, "idle_sleep")) {
		if (!strcmp(v, "off"))
			cfg->idle_sleep = 0;
		else if (weir_parse_duration(v, &cfg->idle_sleep) || cfg->idle_sleep > 1000000000)
			E(en, "'%s': expected off or a duration up to 1s, e.g. 20us", v);
	} else if (!strcmp(k, "ring_size")) {
		if (parse_i64(v, 64, 1 << 20, &x) || (x & (x - 1)))
			E(en, "'%s': expected a power of two in 64..1048576", v);
		else
			cfg->ring_size = (unsigned)x;
	} else if (!strcmp(k, "sink_rt_priority")) {
		/* below the control process's heartbeats (SCHED_FIFO 10) */
		if (parse_i64(v, 0, 9, &x))
			E(en, "'%s': expected 0 (normal scheduling) to 9", v);
		else
			cfg->sink_rt_priority = (int)x;
	} else if (!strcmp(k, "state_headroom")) {
		if (!strcmp(v, "off"))
			cfg->state_headroom = 0;
		else if (parse_size(v, 0, INT64_C(64) << 30, &x))
			E(en, "'%s': expected off or a size up to 64GiB (e.g. 32MiB)", v);
		else
			cfg->state_headroom = x;
	} else if (!strcmp(k, "fused")) {
		if (parse_bool(v, &cfg->fused))
			E(en, "'%s': expected true or false", v);
	} else if (!strcmp(k, "latency")) {
		bool b;
		if (!strcmp(v, "on"))
			cfg->latency = true;
		else if (!strcmp(v, "off"))
			cfg->latency = false;
		else if (!parse_bool(v, &b))
			cfg->latency = b;
		else
			E(en, "'%s': expected on or off", v);
	} else {
		E(en, "unknown key");
	}
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define ITCH_TYPES "SRAFECXDUPQ"        /* the types itch.h decodes */
#define ORDER_BOOK_AUTO UINT32_MAX
/* trading-event fields every message carries itself (any other needs the order book) */
#define MESSAGE_FIELDS ((1u << WEIR_ITCH_F_type) | (1u << WEIR_ITCH_F_order_ref) | (1u << WEIR_ITCH_F_match) | \
			(1u << WEIR_ITCH_F_locate) | (1u << WEIR_ITCH_F_stock) | (1u << WEIR_ITCH_F_printable))
/* by default every order and trade message is an event (S and R only feed the directory) */
#define ITCH_EVENTS_DEFAULT (T_('A') | T_('F') | T_('E') | T_('C') | T_('X') | T_('D') | T_('U') | T_('P') | T_('Q'))
#define T_(c) (1u << ((c) - 'A'))

static const char *const tname[] = { "i64", "u64", "f64" };

static const struct { const char *key; enum weir_format format; } fmt_keys[] = {
	{ "schema_id", WEIR_FMT_WEV },
	{ "session_date", WEIR_FMT_ITCH50 }, { "timezone", WEIR_FMT_ITCH50 }, { "messages", WEIR_FMT_ITCH50 },
	{ "key", WEIR_FMT_ITCH50 }, { "order_book", WEIR_FMT_ITCH50 }, { "rerequest", WEIR_FMT_ITCH50 },
	{ "gap_timeout", WEIR_FMT_ITCH50 },
	{ "measurement", WEIR_FMT_LINE }, { "tags", WEIR_FMT_LINE }, { "precision", WEIR_FMT_LINE },
};

static int
itch_field(const char *name)
{
	for (int f = 0; f < WEIR_ITCH_NFIELDS; f++)
		if (!strcmp(weir_itch_field_name[f], name))
			return f;
	return -1;
}

static const char *
itch_field_list(void)
{
	static char buf[256];
	size_t n = 0;

	for (int f = 0; f < WEIR_ITCH_NFIELDS && n < sizeof(buf); f++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", f ? ", " : "", weir_itch_field_name[f]);
	return buf;
}

/* An IANA zone name the tz database has (a file under TZDIR or /usr/share/zoneinfo). */
static bool
tz_exists(const char *z)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	struct stat st;

	if (!*z || *z == '/' || strstr(z, ".."))
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", z);
	return !strcmp(z, "UTC") || (stat(path, &st) == 0 && S_ISREG(st.st_mode));
}

/* "YYYY-MM-DD" (a real date), or "today" (kept as is: resolved in the zone at load). */
static int
parse_day(const char *v, char *out, size_t n)
{
	int y, m, d, len = 0;
	struct tm tm = { 0 };

	if (!strcmp(v, "today")) {
		snprintf(out, n, "today");
		return 0;
	}
	if (sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &len) != 3 || v[len] || len != 10 || y < 1970 || y > 2200)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	if (timegm(&tm) == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1)
		return -1;          /* timegm normalised it: no such day */
	snprintf(out, n, "%s", v);
	return 0;
}

/* ns since the epoch of midnight starting `day` (YYYY-MM-DD or today) in zone z. */
static int64_t
day_start_ns(const char *day, const char *z)
{
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	struct tm tm = { 0 };
	time_t t;

	setenv("TZ", z, 1);
	tzset();
	if (!strcmp(day, "today")) {
		time_t now = time(NULL);
		localtime_r(&now, &tm);
	} else {
		sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
	}
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
	return (int64_t)t * 1000000000;
}

static void
do_source(struct parse *p, struct entry *en, struct weir_source_cfg *s, bool *have_port)
{
	const char *k = en->key;
	char *v = en->value;
	int64_t x;

	static const char *const fmt_name[] = { "wev", "itch50", "line" };

	if (!strcmp(k, "format")) {
		s->format = WEIR_FMT_WEV;
		if (!strcmp(v, "itch50"))
			s->format = WEIR_FMT_ITCH50;
		else if (!strcmp(v, "line"))
			s->format = WEIR_FMT_LINE;
		else if (strcmp(v, "wev"))
			E(en, "unknown format '%s' (supported: wev, itch50, line)", v);
		return;
	}
	/* keys of one format only */
	for (size_t i = 0; i < sizeof(fmt_keys) / sizeof(fmt_keys[0]); i++)
		if (!strcmp(k, fmt_keys[i].key) && fmt_keys[i].format != s->format) {
			E(en, "only for format = %s (this source is format = %s)", fmt_name[fmt_keys[i].format],
			  fmt_name[s->format]);
			return;
		}
	if (!strcmp(k, "udp_port")) {
		char buf[256], *save = NULL, *tok;
		snprintf(buf, sizeof(buf), "%s", v);
		s->nports = 0;
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			tok = trim(tok);
			if (parse_i64(tok, 1, 65535, &x)) {
				E(en, "'%s' is not a UDP port", tok);
				return;
			}
			for (int i = 0; i < s->nports; i++)
				if (s->udp_ports[i] == x) {
					E(en, "port %s given twice", tok);
					return;
				}
			if (s->nports == WEIR_MAX_PORTS) {
				E(en, "more than %d ports", WEIR_MAX_PORTS);
				return;
			}
			s->udp_ports[s->nports++] = (uint16_t)x;
		}
		if (!s->nports) {
			E(en, "expected a UDP port, or several (copies of one feed)");
			return;
		}
		s->udp_port = s->udp_ports[0];
		*have_port = true;
	} else if (!strcmp(k, "session_date")) {
		if (parse_day(v, s->session_date, sizeof(s->session_date)))
			E(en, "'%s': expected the trading day as YYYY-MM-DD, or today", v);
	} else if (!strcmp(k, "timezone")) {
		if (strlen(v) >= sizeof(s->timezone) || !tz_exists(v))
			E(en, "'%s': not a time zone of the tz database (e.g. America/New_York, UTC)", v);
		else
			snprintf(s->timezone, sizeof(s->timezone), "%s", v);
	} else if (!strcmp(k, "messages")) {
		char buf[256], *save = NULL, *tok;
		snprintf(buf, sizeof(buf), "%s", v);
		s->itch_types = 0;
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			tok = trim(tok);
			if (strlen(tok) != 1 || !strchr(ITCH_TYPES, *tok)) {
				E(en, "'%s' is not a decoded ITCH 5.0 message type (%s)", tok, ITCH_TYPES);
				return;
			}
			s->itch_types |= 1u << (*tok - 'A');
		}
		if (!s->itch_types)
			E(en, "expected message types, e.g. E,C,P");
	} else if (!strcmp(k, "key")) {
		if (!strcmp(v, "symbol"))
			s->itch_key = WEIR_ITCH_KEY_SYMBOL;
		else if (!strcmp(v, "locate"))
			s->itch_key = WEIR_ITCH_KEY_LOCATE;
		else
			E(en, "'%s': expected symbol or locate", v);
	} else if (!strcmp(k, "order_book")) {
		if (!strcmp(v, "auto"))
			s->order_book = ORDER_BOOK_AUTO;
		else if (parse_i64(v, 0, 1 << 30, &x))
			E(en, "'%s': expected auto, or the most live orders to hold: 0 (no book) to 1073741824", v);
		else
			s->order_book = (uint32_t)x;
	} else if (!strcmp(k, "rerequest")) {
		if (weir_parse_hostport(v, s->rerequest_host, sizeof(s->rerequest_host), &s->rerequest_port) ||
		    !s->rerequest_port)
			E(en, "'%s': expected the re-request server as ADDR:PORT", v);
	} else if (!strcmp(k, "gap_timeout")) {
		if (weir_parse_duration(v, &s->gap_timeout) || s->gap_timeout <= 0 ||
		    s->gap_timeout > INT64_C(60000000000))
			E(en, "'%s': expected a duration up to 60s, e.g. 50ms", v);
	} else if (!strcmp(k, "measurement")) {
		struct weir_lp_schema t;
		weir_lp_schema_init(&t, WEIR_LP_NS);
		if (strlen(v) >= sizeof(s->measurement) || weir_lp_schema_measurement(&t, v))
			E(en, "'%s' is not a measurement name a line can carry", v);
		else
			snprintf(s->measurement, sizeof(s->measurement), "%s", v);
	} else if (!strcmp(k, "tags")) {
		char buf[2048], *save = NULL, *tok;
		struct weir_lp_schema t;
		weir_lp_schema_init(&t, WEIR_LP_NS);
		snprintf(buf, sizeof(buf), "%s", v);
		s->ntags = 0;
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			int rc;
			tok = trim(tok);
			if (strlen(tok) >= WEIR_NAME_MAX || (rc = weir_lp_schema_key_tag(&t, tok))) {
				E(en, "tag '%s': %s", tok, rc == -EEXIST ? "given twice" : rc == -ENOSPC ?
				  "too many (at most " STR(WEIR_MAX_LP_TAGS) ")" : "not a tag key a line can carry");
				return;
			}
			snprintf(s->tags[s->ntags++], WEIR_NAME_MAX, "%s", tok);
		}
		if (!s->ntags)
			E(en, "expected the tag keys that form the key, e.g. host, region");
	} else if (!strcmp(k, "precision")) {
		int pr = weir_lp_parse_prec(v);
		if (pr < 0)
			E(en, "'%s': expected ns, us, ms or s", v);
		else
			s->precision = (uint8_t)pr;
	} else if (!strcmp(k, "schema_id")) {
		if (parse_i64(v, 0, 65535, &x))
			E(en, "'%s' is not a schema id in 0..65535", v);
		else
			s->schema_id = (uint16_t)x;
	} else if (!strcmp(k, "fields")) {
		char buf[2048], *save = NULL, *tok;
		snprintf(buf, sizeof(buf), "%s", v);
		s->nfields = 0;
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *colon, *name, *type;
			tok = trim(tok);
			if (!*tok)
				continue;
			colon = strchr(tok, ':');
			if (!colon && s->format != WEIR_FMT_ITCH50) {
				E(en, "field '%s' has no type (expected name:i64|u64|f64)", tok);
				return;
			}
			if (colon)
				*colon = '\0';
			name = trim(tok);
			type = colon ? trim(colon + 1) : NULL;
			if (!valid_name(name) || !strcmp(name, "event_time") || !strcmp(name, "key")) {
				E(en, "bad field name '%s'", name);
				return;
			}
			for (int i = 0; i < s->nfields; i++)
				if (!strcmp(s->field_name[i], name)) {
					E(en, "field '%s' declared twice", name);
					return;
				}
			if (s->nfields == WEIR_MAX_FIELDS) {
				E(en, "more than %d fields", WEIR_MAX_FIELDS);
				return;
			}
			if (s->format == WEIR_FMT_ITCH50) {
				int f = itch_field(name);
				if (f < 0) {
					E(en, "'%s' is not a field of an ITCH trading event (%s)", name, itch_field_list());
					return;
				}
				s->field_src[s->nfields] = (uint8_t)f;
				s->field_type[s->nfields] = weir_itch_field_type[f];
				if (type && strcmp(type, tname[weir_itch_field_type[f]])) {
					E(en, "field '%s' is %s in an ITCH trading event, not %s", name,
					  tname[weir_itch_field_type[f]], type);
					return;
				}
			} else if (!strcmp(type, "i64"))
				s->field_type[s->nfields] = WEIR_F_I64;
			else if (!strcmp(type, "u64"))
				s->field_type[s->nfields] = WEIR_F_U64;
			else if (!strcmp(type, "f64"))
				s->field_type[s->nfields] = WEIR_F_F64;
			else {
				E(en, "field '%s': unknown type '%s' (i64, u64 or f64)", name, type);
				return;
			}
			snprintf(s->field_name[s->nfields++], WEIR_NAME_MAX, "%s", name);
		}
	} else if (!strcmp(k, "watermark_delay")) {
		if (weir_parse_duration(v, &s->watermark_delay))
			E(en, "'%s' is not a duration (e.g. 50ms; units ns us ms s m h)", v);
	} else if (!strcmp(k, "idle_timeout")) {
		if (!strcmp(v, "off"))
			s->idle_timeout = 0;
		else if (weir_parse_duration(v, &s->idle_timeout) || s->idle_timeout == 0)
			E(en, "'%s': expected off or a duration (e.g. 5s)", v);
	} else if (!strcmp(k, "key_name")) {
		if (!valid_name(v) || !strcasecmp(v, "key") || !strcasecmp(v, "event_time"))
			E(en, "'%s': expected a column name for the record's key (letters, digits, _)", v);
		else
			snprintf(s->key_name, sizeof(s->key_name), "%s", v);
	} else if (!strcmp(k, "key_map")) {
		/* read it now, so that `weir check` and start-up report a bad table */
		char msg[512] = "";
		FILE *ef = fmemopen(msg, sizeof(msg) - 1, "w");
		struct weir_keymap *m = NULL;
		if (!*v || strlen(v) >= sizeof(s->key_map)) {
			E(en, "expected the path of a CSV file of 'from,to' lines");
		} else if (!ef) {
			E(en, "%s: cannot check: %s", v, strerror(errno));
		} else if (weir_keymap_load(v, &m, ef)) {
			fclose(ef);
			msg[strcspn(msg, "\n")] = '\0';
			E(en, "%s", msg);
			ef = NULL;
		} else {
			snprintf(s->key_map, sizeof(s->key_map), "%s", v);
		}
		if (ef)
			fclose(ef);
		weir_keymap_free(m);
	} else {
		E(en, "unknown key");
	}
}

static int
find_source(const struct weir_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->nsources; i++)
		if (!strcmp(cfg->sources[i].name, name))
			return i;
	return -1;
}

static int
find_field(const struct weir_source_cfg *s, const char *name)
{
	for (int i = 0; i < s->nfields; i++)
		if (!strcmp(s->field_name[i], name))
			return i;
	return -1;
}

static void
parse_window(struct parse *p, struct entry *en, struct weir_query_cfg *q)
{
	char buf[256], *save = NULL, *kind, *a, *b, *extra;

	snprintf(buf, sizeof(buf), "%s", en->value);
	kind = strtok_r(buf, " \t", &save);
	a = strtok_r(NULL, " \t", &save);
	b = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (!kind)
		goto bad;
	if (!strcmp(kind, "tumbling") && a && !b) {
		q->window = WEIR_WIN_TUMBLING;
		if (weir_parse_duration(a, &q->size) || q->size <= 0)
			goto bad;
		q->slide = q->size;
	} else if (!strcmp(kind, "hopping") && a && b && !extra) {
		q->window = WEIR_WIN_HOPPING;
		if (weir_parse_duration(a, &q->size) || q->size <= 0 ||
		    weir_parse_duration(b, &q->slide) || q->slide <= 0)
			goto bad;
		if (q->size % q->slide) {
			E(en, "hopping size %s must be a multiple of the slide %s", a, b);
			return;
		}
		if (q->size / q->slide > 1024) {
			E(en, "hopping size/slide is %" PRId64 "; at most 1024 windows per record", q->size / q->slide);
			return;
		}
	} else if (!strcmp(kind, "session") && a && !b) {
		q->window = WEIR_WIN_SESSION;
		if (weir_parse_duration(a, &q->size) || q->size <= 0)
			goto bad;
		q->slide = q->size;
	} else {
		goto bad;
	}
	return;
bad:
	E(en, "'%s': expected 'tumbling SIZE', 'hopping SIZE SLIDE' or 'session GAP' with positive durations",
	  en->value);
}

static void
parse_aggs(struct parse *p, struct entry *en, struct weir_query_cfg *q, const struct weir_source_cfg *s)
{
	static const char *const fnames[] = {
		[WEIR_AGG_COUNT] = "count", [WEIR_AGG_SUM] = "sum", [WEIR_AGG_MIN] = "min", [WEIR_AGG_MAX] = "max",
		[WEIR_AGG_AVG] = "avg", [WEIR_AGG_FIRST] = "first", [WEIR_AGG_LAST] = "last",
		[WEIR_AGG_DISTINCT] = "count_distinct",
	};
	int ndistinct = 0;
	char buf[4096], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", en->value);
	q->naggs = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct weir_agg_cfg *a;
		char *open, *close, *arg = NULL;
		int fn = -1;

		tok = trim(tok);
		if (!*tok)
			continue;
		if (q->naggs == WEIR_MAX_AGGS) {
			E(en, "more than %d aggregates", WEIR_MAX_AGGS);
			return;
		}
		open = strchr(tok, '(');
		if (open) {
			close = strchr(open, ')');
			if (!close || trim(close + 1)[0] != '\0') {
				E(en, "'%s': expected fn(field)", tok);
				return;
			}
			*open = '\0';
			*close = '\0';
			arg = trim(open + 1);
		}
		tok = trim(tok);
		for (int i = 0; i < (int)(sizeof(fnames) / sizeof(fnames[0])); i++)
			if (fnames[i] && !strcmp(tok, fnames[i]))
				fn = i;
		if (fn < 0) {
			E(en, "unknown aggregate '%s' (count, sum, min, max, avg, first, last, count_distinct)", tok);
			return;
		}
		if (fn == WEIR_AGG_DISTINCT && ++ndistinct > WEIR_MAX_DISTINCT) {
			E(en, "more than %d count_distinct aggregates", WEIR_MAX_DISTINCT);
			return;
		}
		a = &q->aggs[q->naggs];
		a->fn = (uint8_t)fn;
		if (fn == WEIR_AGG_COUNT) {
			if (arg && *arg && strcmp(arg, "*")) {
				E(en, "count takes no field");
				return;
			}
			a->field = -1;
			a->type = WEIR_F_U64;
			snprintf(a->name, sizeof(a->name), "count");
		} else {
			int f;
			if (!arg || !*arg) {
				E(en, "%s needs a field, e.g. %s(amount)", tok, tok);
				return;
			}
			if (!s)
				return;   /* the missing source is reported on 'from' */
			f = find_field(s, arg);
			if (f < 0) {
				E(en, "source '%s' has no field '%s'", s->name, arg);
				return;
			}
			a->field = (int8_t)f;
			a->type = s->field_type[f];
			snprintf(a->name, sizeof(a->name), "%s_%s", fnames[fn], arg);
		}
		for (int i = 0; i < q->naggs; i++)
			if (!strcmp(q->aggs[i].name, a->name)) {
				E(en, "aggregate '%s' listed twice", a->name);
				return;
			}
		q->naggs++;
	}
	if (q->naggs == 0)
		E(en, "no aggregates");
}

/* filter = FIELD OP VALUE [and FIELD OP VALUE ...] */
static void
parse_filter(struct parse *p, struct entry *en, struct weir_query_cfg *q, const struct weir_source_cfg *s)
{
	static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
	char buf[4096], *save = NULL, *tok;
	int expect = 0;                 /* 0 field, 1 op, 2 value, 3 'and' */
	struct weir_filter_cfg *f = NULL;

	if (!s)
		return;                 /* the missing source is reported on 'from' */
	snprintf(buf, sizeof(buf), "%s", en->value);
	q->nfilter = 0;
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		switch (expect) {
		case 0: {
			int fi = find_field(s, tok);
			if (fi < 0) {
				E(en, "source '%s' has no value field '%s'", s->name, tok);
				return;
			}
			if (q->nfilter == WEIR_MAX_FILTERS) {
				E(en, "more than %d comparisons", WEIR_MAX_FILTERS);
				return;
			}
			f = &q->filter[q->nfilter++];
			f->field = (uint8_t)fi;
			break;
		}
		case 1: {
			int o = -1;
			for (int i = 0; i < 6; i++)
				if (!strcmp(tok, ops[i]))
					o = i;
			if (o < 0) {
				E(en, "'%s': expected a comparison (== != < <= > >=), with blanks around it", tok);
				return;
			}
			f->op = (uint8_t)o;
			break;
		}
		case 2: {
			char *end;
			errno = 0;
			if (s->field_type[f->field] == WEIR_F_F64) {
				double d = strtod(tok, &end);
				memcpy(&f->value, &d, 8);
			} else if (s->field_type[f->field] == WEIR_F_I64) {
				f->value = (uint64_t)strtoll(tok, &end, 0);
			} else {
				f->value = tok[0] == '-' ? (end = tok, 0) : strtoull(tok, &end, 0);
			}
			if (errno || end == tok || *end) {
				E(en, "'%s' is not a %s constant for field '%s'", tok,
				  s->field_type[f->field] == WEIR_F_F64 ? "f64" :
				  s->field_type[f->field] == WEIR_F_I64 ? "i64" : "u64", s->field_name[f->field]);
				return;
			}
			break;
		}
		default:
			if (strcmp(tok, "and")) {
				E(en, "'%s': expected 'and' between comparisons", tok);
				return;
			}
			break;
		}
		expect = (expect + 1) & 3;
	}
	if (expect != 3)
		E(en, "expected FIELD OP VALUE [and FIELD OP VALUE ...], e.g. 'amount > 0 and kind == 2'");
}

static void
parse_sink(struct parse *p, struct entry *en, struct weir_query_cfg *q)
{
	const char *v = en->value;

	if (!strcmp(v, "stdout")) {
		q->sink = WEIR_SINK_STDOUT;
	} else if (!strncmp(v, "file:", 5) && v[5]) {
		q->sink = WEIR_SINK_FILE;
		if (strlen(v + 5) >= sizeof(q->sink_path))
			E(en, "path too long");
		snprintf(q->sink_path, sizeof(q->sink_path), "%s", v + 5);
	} else if (!strncmp(v, "udp:", 4)) {
		const char *hp = v + 4, *colon = strrchr(hp, ':');
		int64_t port;
		size_t hl;

		if (!colon || colon == hp || parse_i64(colon + 1, 1, 65535, &port)) {
			E(en, "'%s': expected udp:HOST:PORT", v);
			return;
		}
		hl = (size_t)(colon - hp);
		if (hp[0] == '[' && hl > 2 && hp[hl - 1] == ']') {   /* [v6addr]:port */
			hp++;
			hl -= 2;
		}
		if (hl >= sizeof(q->sink_path)) {
			E(en, "host too long");
			return;
		}
		memcpy(q->sink_path, hp, hl);
		q->sink_path[hl] = '\0';
		q->sink_port = (uint16_t)port;
		q->sink = WEIR_SINK_UDP;
	} else {
		E(en, "'%s': expected stdout, file:PATH or udp:HOST:PORT", v);
	}
}

static struct entry *get(struct parse *p, const char *section, const char *key);
static int section_line(struct parse *p, const char *section);

static bool
has_section(const struct parse *p, const char *section)
{
	for (int i = 0; i < p->ne; i++)
		if (!strcmp(p->e[i].section, section))
			return true;
	return false;
}

/* [state] dir = PATH, checkpoint_interval = 1s, retain = 3 */
static void
do_state(struct parse *p, struct weir_config *cfg)
{
	struct entry *en;
	int64_t x;

	cfg->checkpoint_interval = 1000000000;
	cfg->state_retain = 3;
	cfg->state_nice = 19;
	if ((en = get(p, "state", "dir"))) {
		const char *v = en->value;
		if (!*v)
			E(en, "empty: expected the state directory");
		else if (strlen(v) > 400)       /* room for snapshots/epoch-N/shard-K/FILE */
			E(en, "path too long (at most 400 bytes)");
		else
			snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", v);
	}
	if ((en = get(p, "state", "checkpoint_interval"))) {
		if (weir_parse_duration(en->value, &x) || x < 10000000 || x > INT64_C(86400000000000))
			E(en, "'%s': expected a duration from 10ms to 24h, e.g. 1s", en->value);
		else
			cfg->checkpoint_interval = x;
	}
	if ((en = get(p, "state", "retain"))) {
		if (parse_i64(en->value, 1, 1000, &x))
			E(en, "'%s': expected a number of snapshots in 1..1000", en->value);
		else
			cfg->state_retain = (int)x;
	}
	if ((en = get(p, "state", "nice"))) {
		if (parse_i64(en->value, 0, 19, &x))
			E(en, "'%s': expected a nice level in 0..19", en->value);
		else
			cfg->state_nice = (int)x;
	}
	if (!cfg->state_dir[0] && has_section(p, "state"))
		cfg_error(p, section_line(p, "state"), "state", "dir", "required in a [state] section");
}

int
weir_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	int64_t v;
	size_t hl;

	if (!colon || colon == s || parse_i64(colon + 1, 1, 65535, &v))
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl > 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	} else if (memchr(s, ':', hl)) {
		return -1;              /* a bare v6 address needs [ ] */
	}
	if (hl >= hostlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 0;
}

/* [admin] listen = 127.0.0.1:9180, token_file = PATH, max_clients = 256, timeout = 10s */
static void
do_admin(struct parse *p, struct weir_config *cfg)
{
	struct entry *en;
	int64_t x;

	if (!has_section(p, "admin") && !p->admin_line)
		return;
	cfg->admin = true;
	snprintf(cfg->admin_host, sizeof(cfg->admin_host), "127.0.0.1");
	cfg->admin_port = 9180;
	cfg->admin_max_clients = 256;
	cfg->admin_timeout = INT64_C(10000000000);
	if ((en = get(p, "admin", "listen"))) {
		char v[WEIR_NAME_MAX + 16];
		size_t n = strlen(en->value);
		bool any = n >= 2 && !strcmp(en->value + n - 2, ":0");  /* port 0: any free port */
		snprintf(v, sizeof(v), "%.*s%s", (int)(any ? n - 1 : n), en->value, any ? "1" : "");
		if (n >= sizeof(v) - 1 ||
		    weir_parse_hostport(v, cfg->admin_host, sizeof(cfg->admin_host), &cfg->admin_port))
			E(en, "'%s': expected ADDR:PORT (e.g. 127.0.0.1:9180; port 0: any free port)", en->value);
		else if (any)
			cfg->admin_port = 0;
	}
	if ((en = get(p, "admin", "token_file"))) {
		if (!en->value[0] || strlen(en->value) >= sizeof(cfg->admin_token_file))
			E(en, "expected the path of a file holding the bearer token");
		else
			snprintf(cfg->admin_token_file, sizeof(cfg->admin_token_file), "%s", en->value);
	}
	if ((en = get(p, "admin", "max_clients"))) {
		if (parse_i64(en->value, 1, 1024, &x))
			E(en, "'%s': expected a number of connections in 1..1024", en->value);
		else
			cfg->admin_max_clients = (int)x;
	}
	if ((en = get(p, "admin", "timeout"))) {
		if (weir_parse_duration(en->value, &x) || x < 1000000000 || x > INT64_C(3600000000000))
			E(en, "'%s': expected a duration from 1s to 1h", en->value);
		else
			cfg->admin_timeout = x;
	}
}

/* [ha] node = a, peer = ADDR:PORT, witness = ADDR:PORT, heartbeat = 5ms, ... */
static void
do_ha(struct parse *p, struct weir_config *cfg)
{
	struct entry *en;
	int64_t x;

	cfg->ha_heartbeat = 5000000;
	cfg->ha_dead_after = 4;
	cfg->ha_hold_down = INT64_C(300000000000);
	cfg->ha_priority = 100;
	cfg->ha_shadow = 65536;
	cfg->ha_journal = INT64_C(256) << 20;
	if (!has_section(p, "ha"))
		return;
	if ((en = get(p, "ha", "node"))) {
		size_t l = strlen(en->value);
		bool ok = l > 0 && l < sizeof(cfg->ha_node);
		for (size_t i = 0; i < l; i++)
			ok &= isalnum((unsigned char)en->value[i]) || en->value[i] == '-' || en->value[i] == '_';
		if (!ok)
			E(en, "'%s': expected a name of 1 to 15 letters, digits, - or _", en->value);
		else
			snprintf(cfg->ha_node, sizeof(cfg->ha_node), "%s", en->value);
	} else {
		cfg_error(p, section_line(p, "ha"), "ha", "node", "required in an [ha] section");
	}
	if ((en = get(p, "ha", "peer"))) {
		if (weir_parse_hostport(en->value, cfg->ha_peer_host, sizeof(cfg->ha_peer_host), &cfg->ha_peer_port))
			E(en, "'%s': expected ADDR:PORT", en->value);
	} else {
		cfg_error(p, section_line(p, "ha"), "ha", "peer", "required in an [ha] section");
	}
	if ((en = get(p, "ha", "listen"))) {
		if (weir_parse_hostport(en->value, cfg->ha_listen_host, sizeof(cfg->ha_listen_host),
					&cfg->ha_listen_port))
			E(en, "'%s': expected ADDR:PORT", en->value);
	} else {
		cfg->ha_listen_port = cfg->ha_peer_port;
	}
	if ((en = get(p, "ha", "witness")) &&
	    weir_parse_hostport(en->value, cfg->ha_witness_host, sizeof(cfg->ha_witness_host), &cfg->ha_witness_port))
		E(en, "'%s': expected ADDR:PORT", en->value);
	if ((en = get(p, "ha", "heartbeat"))) {
		if (weir_parse_duration(en->value, &x) || x < 100000 || x > 10000000000)
			E(en, "'%s': expected a duration from 100us to 10s, e.g. 5ms", en->value);
		else
			cfg->ha_heartbeat = x;
	}
	if ((en = get(p, "ha", "dead_after"))) {
		if (parse_i64(en->value, 2, 1000, &x))
			E(en, "'%s': expected a number of heartbeats in 2..1000", en->value);
		else
			cfg->ha_dead_after = (int)x;
	}
	if ((en = get(p, "ha", "failback"))) {
		if (!strcmp(en->value, "auto"))
			cfg->ha_failback_auto = true;
		else if (strcmp(en->value, "manual"))
			E(en, "'%s': expected manual or auto", en->value);
	}
	if ((en = get(p, "ha", "hold_down"))) {
		if (weir_parse_duration(en->value, &x) || x < 0 || x > INT64_C(86400000000000))
			E(en, "'%s': expected a duration up to 24h, e.g. 300s", en->value);
		else
			cfg->ha_hold_down = x;
	}
	if ((en = get(p, "ha", "secret_file"))) {
		if (!en->value[0] || strlen(en->value) >= sizeof(cfg->ha_secret_file))
			E(en, "expected the path of a file holding the shared secret");
		else
			snprintf(cfg->ha_secret_file, sizeof(cfg->ha_secret_file), "%s", en->value);
	} else {
		cfg_error(p, section_line(p, "ha"), "ha", "secret_file",
			  "required in an [ha] section: heartbeats are authenticated");
	}
	if ((en = get(p, "ha", "priority"))) {
		if (parse_i64(en->value, 0, 255, &x))
			E(en, "'%s': expected a priority in 0..255 (higher: the preferred primary)", en->value);
		else
			cfg->ha_priority = (int)x;
	}
	if ((en = get(p, "ha", "dir"))) {
		if (!en->value[0] || strlen(en->value) > 400)
			E(en, "expected a directory (at most 400 bytes)");
		else
			snprintf(cfg->ha_dir, sizeof(cfg->ha_dir), "%s", en->value);
	} else {
		snprintf(cfg->ha_dir, sizeof(cfg->ha_dir), "/var/lib/weir/%s", cfg->ha_node);
	}
	if ((en = get(p, "ha", "control_socket"))) {
		if (!en->value[0] || strlen(en->value) >= 108)
			E(en, "expected a socket path (at most 107 bytes)");
		else
			snprintf(cfg->ha_socket, sizeof(cfg->ha_socket), "%s", en->value);
	} else {
		snprintf(cfg->ha_socket, sizeof(cfg->ha_socket), "/run/weir/%s.sock", cfg->ha_node);
	}
	if ((en = get(p, "ha", "shadow"))) {
		if (parse_i64(en->value, 1024, 1 << 24, &x))
			E(en, "'%s': expected a number of results in 1024..16777216", en->value);
		else
			cfg->ha_shadow = (int)x;
	}
	if ((en = get(p, "ha", "journal"))) {
		if (parse_size(en->value, INT64_C(1) << 20, INT64_C(64) << 30, &x))
			E(en, "'%s': expected a size in 1MiB..64GiB (e.g. 256MiB)", en->value);
		else
			cfg->ha_journal = x;
	}
	if ((en = get(p, "ha", "realtime"))) {
		if (!strcmp(en->value, "true") || !strcmp(en->value, "yes"))
			cfg->ha_realtime = true;
		else if (strcmp(en->value, "false") && strcmp(en->value, "no"))
			E(en, "'%s': expected true or false", en->value);
	}
	if (cfg->workers > 128)
		cfg_error(p, section_line(p, "ha"), "ha", NULL, "an HA pair supports at most 128 workers");
	if (cfg->ha_heartbeat * cfg->ha_dead_after > WEIR_HA_LEASE_MAX)
		cfg_error(p, section_line(p, "ha"), "ha", "dead_after",
			  "heartbeat x dead_after must be at most 10s (a restarted witness waits that long)");
}

static struct entry *
get(struct parse *p, const char *section, const char *key)
{
	struct entry *found = NULL;

	for (int i = 0; i < p->ne; i++) {
		if (strcmp(p->e[i].section, section) || strcmp(p->e[i].key, key))
			continue;
		if (found)
			cfg_error(p, p->e[i].line, section, key, "duplicate key (first on line %d)", found->line);
		found = &p->e[i];
		found->used = true;
	}
	return found;
}

static int
section_line(struct parse *p, const char *section)
{
	for (int i = 0; i < p->ne; i++)
		if (!strcmp(p->e[i].section, section))
			return p->e[i].line;
	return p->line;
}

/* sql = SELECT ...: compile it; an error points at its line and column in the file */
static void
do_sql(struct parse *p, struct weir_config *cfg, struct weir_query_cfg *q, struct entry *en)
{
	struct weir_sql_err err;
	char tok[64];

	q->sql = true;
	if (strlen(en->value) >= sizeof(q->sql_text)) {
		E(en, "longer than %zu bytes", sizeof(q->sql_text) - 1);
		return;
	}
	snprintf(q->sql_text, sizeof(q->sql_text), "%s", en->value);
	if (!weir_sql_compile(cfg, q, &err)) {
		if (q->window == WEIR_WIN_SESSION && q->lateness)
			cfg_error(p, en->first, en->section, "allowed_lateness",
				  "session windows take no allowed lateness (must be 0)");
		return;
	}
	/* the segment (line) of the text that holds the error, and the column in the file */
	unsigned pos = err.pos, seg = 0, off;
	const char *t = q->sql_text, *segp = t;
	if (pos > strlen(t))
		pos = (unsigned)strlen(t);
	for (const char *x = t; x < t + pos; x++)
		if (*x == '\n') {
			seg++;
			segp = x + 1;
		}
	off = (unsigned)(t + pos - segp);
	int line = en->first + (int)seg, col = (int)off + 1;
	const char *raw = line - 1 < p->nraw ? p->raw[line - 1] : NULL;
	const char *seg_in_raw = NULL;
	size_t seglen = strcspn(segp, "\n");
	if (raw && seglen) {
		char *s0 = strndup(segp, seglen);
		const char *from = seg ? raw : strchr(raw, '=');
		seg_in_raw = s0 && from ? strstr(from, s0) : NULL;
		free(s0);
	}
	if (seg_in_raw)
		col = (int)(seg_in_raw - raw) + (int)off + 1;
	weir_sql_token(t, pos, tok, sizeof(tok));
	fprintf(p->err, "%s:%d:%d: [%s] sql: %s", p->file, line, col, en->section, err.msg);
	if (tok[0] && !strstr(err.msg, tok))
		fprintf(p->err, " (at '%s')", tok);
	fputc('\n', p->err);
	if (raw && seg_in_raw) {
		int w = (int)strcspn(raw, "\r\n");
		fprintf(p->err, "  %.*s\n  %*s^", w, raw, col - 1, "");
		for (size_t i = 1; i < strlen(tok) && i < 40; i++)
			fputc('~', p->err);
		fputc('\n', p->err);
	}
	if (err.hint[0])
		fprintf(p->err, "  hint: %s\n", err.hint);
	p->nerr++;
}

static void
validate(struct parse *p, struct weir_config *cfg)
{
	static const char *const dp_keys[] = { "devices", "rx_cores", "workers", "lcores", "hugepages",
		"backpressure", "exit_on_eos", "eal_args", "idle_sleep", "ring_size", "latency", "fused",
		"sink_rt_priority", "state_headroom" };
	static const char *const src_keys[] = { "format", "udp_port", "schema_id", "fields",
		"watermark_delay", "idle_timeout", "key_map", "key_name", "session_date", "timezone", "messages", "key",
		"order_book", "rerequest", "gap_timeout", "measurement", "tags", "precision" };
	struct entry *en;
	char sec[WEIR_NAME_MAX + 16];

	/* defaults */
	cfg->rx_cores = 1;
	cfg->workers = 1;
	cfg->exit_on_eos = false;
	cfg->idle_sleep = 20000;
	cfg->ring_size = 4096;
	cfg->state_headroom = INT64_C(32) << 20;

	for (size_t i = 0; i < sizeof(dp_keys) / sizeof(dp_keys[0]); i++)
		if ((en = get(p, "dataplane", dp_keys[i])))
			do_dataplane(p, en, cfg);
	if (cfg->ndevices == 0)
		cfg_error(p, section_line(p, "dataplane"), "dataplane", "devices", "required: at least one DPDK device");
	if (cfg->fused && cfg->rx_cores != cfg->workers) {
		struct entry *fe = get(p, "dataplane", "fused");
		cfg_error(p, fe ? fe->line : section_line(p, "dataplane"), "dataplane", "fused",
			  "needs as many workers as rx_cores (RX core i runs worker i): %d rx_cores, %d workers",
			  cfg->rx_cores, cfg->workers);
	}

	/* sources, in file order */
	for (int i = 0; i < p->ne; i++) {
		const char *name;
		struct weir_source_cfg *s;
		bool have_port = false;

		if (strncmp(p->e[i].section, "source ", 7) || find_source(cfg, trim(p->e[i].section + 7)) >= 0)
			continue;
		name = trim(p->e[i].section + 7);
		if (!valid_name(name)) {
			cfg_error(p, p->e[i].line, p->e[i].section, NULL, "bad source name '%s'", name);
			continue;
		}
		if (cfg->nsources == WEIR_MAX_SOURCES) {
			cfg_error(p, p->e[i].line, p->e[i].section, NULL, "more than %d sources", WEIR_MAX_SOURCES);
			break;
		}
		s = &cfg->sources[cfg->nsources++];
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->line = p->e[i].line;
		s->itch_types = ITCH_EVENTS_DEFAULT;
		s->order_book = ORDER_BOOK_AUTO;
		s->gap_timeout = 50000000;
		snprintf(s->timezone, sizeof(s->timezone), "America/New_York");
		snprintf(sec, sizeof(sec), "source %s", name);
		for (size_t k = 0; k < sizeof(src_keys) / sizeof(src_keys[0]); k++)
			if ((en = get(p, p->e[i].section, src_keys[k])))
				do_source(p, en, s, &have_port);
		if (!have_port)
			cfg_error(p, s->line, sec, "udp_port", "required");
		if (s->format == WEIR_FMT_ITCH50) {
			if (!s->session_date[0])
				cfg_error(p, s->line, sec, "session_date", "required for format = itch50: the trading "
					  "day the feed's times (ns since midnight) count from, YYYY-MM-DD or today");
			else
				s->day_start = day_start_ns(s->session_date, s->timezone);
			if (s->order_book == ORDER_BOOK_AUTO) {
				/* a book where a declared field needs one (the rest is in the messages) */
				s->order_book = 0;
				for (int f = 0; f < s->nfields; f++)
					if (!(MESSAGE_FIELDS >> s->field_src[f] & 1))
						s->order_book = 1000000;
			}
		}
		s->record_size = (uint16_t)(16 + 8 * s->nfields);
		for (int j = 0; j < cfg->nsources - 1; j++)
			for (int a = 0; have_port && a < s->nports; a++)
				for (int b = 0; b < cfg->sources[j].nports; b++)
					if (cfg->sources[j].udp_ports[b] == s->udp_ports[a])
						cfg_error(p, s->line, sec, "udp_port",
							  "port %u is already used by source '%s'", s->udp_ports[a],
							  cfg->sources[j].name);
	}

	for (int i = 0; i < cfg->nsources; i++) {
		const struct weir_source_cfg *s = &cfg->sources[i];
		for (int f = 0; s->key_name[0] && f < s->nfields; f++)
			if (!strcasecmp(s->field_name[f], s->key_name))
				cfg_error(p, s->line, NULL, "key_name", "[source %s]: '%s' is also a field's name", s->name,
					  s->key_name);
	}

	/* queries */
	for (int i = 0; i < p->ne; i++) {
		const char *name;
		struct weir_query_cfg *q;
		const struct weir_source_cfg *s = NULL;
		const char *section = p->e[i].section;
		bool seen = false;

		if (strncmp(section, "query ", 6))
			continue;
		name = trim(p->e[i].section + 6);
		for (int j = 0; j < cfg->nqueries; j++)
			seen |= !strcmp(cfg->queries[j].name, name);
		if (seen)
			continue;
		if (!valid_name(name)) {
			cfg_error(p, p->e[i].line, section, NULL, "bad query name '%s'", name);
			continue;
		}
		if (cfg->nqueries == WEIR_MAX_QUERIES) {
			cfg_error(p, p->e[i].line, section, NULL, "more than %d queries", WEIR_MAX_QUERIES);
			break;
		}
		q = &cfg->queries[cfg->nqueries++];
		snprintf(q->name, sizeof(q->name), "%s", name);
		q->line = p->e[i].first;
		q->source = -1;
		q->key_field = -1;
		if ((en = get(p, section, "allowed_lateness"))) {
			if (weir_parse_duration(en->value, &q->lateness))
				E(en, "'%s' is not a duration", en->value);
		}
		if ((en = get(p, section, "sink")))
			parse_sink(p, en, q);
		else
			q->sink = WEIR_SINK_STDOUT;
		if ((en = get(p, section, "sql"))) {
			static const char *const ini_keys[] = { "from", "window", "aggregates", "filter", "key", "emit" };
			for (size_t k = 0; k < sizeof(ini_keys) / sizeof(ini_keys[0]); k++) {
				struct entry *x = get(p, section, ini_keys[k]);
				if (x)
					E(x, "the query is given by sql =: '%s' cannot be given too", ini_keys[k]);
			}
			do_sql(p, cfg, q, en);
			continue;
		}
		if ((en = get(p, section, "from"))) {
			q->source = find_source(cfg, en->value);
			if (q->source < 0)
				E(en, "no source named '%s'", en->value);
			else
				s = &cfg->sources[q->source];
		} else {
			cfg_error(p, q->line, section, "from", "required");
		}
		if ((en = get(p, section, "window")))
			parse_window(p, en, q);
		else
			cfg_error(p, q->line, section, "window", "required");
		if ((en = get(p, section, "allowed_lateness")) && q->window == WEIR_WIN_SESSION && q->lateness != 0)
			E(en, "session windows take no allowed lateness (must be 0)");
		if ((en = get(p, section, "aggregates")))
			parse_aggs(p, en, q, s);
		else
			cfg_error(p, q->line, section, "aggregates", "required");
		if ((en = get(p, section, "filter")))
			parse_filter(p, en, q, s);
		if ((en = get(p, section, "key")) && s) {
			/* partition by a value field: the RX cores re-key the stream */
			const char *v = trim(en->value);
			if (strcmp(v, "key")) {
				int f;
				for (f = 0; f < s->nfields && strcmp(s->field_name[f], v); f++)
					;
				if (f == s->nfields)
					E(en, "source '%s' has no field '%s'", s->name, v);
				else if (s->field_type[f] == WEIR_F_F64)
					E(en, "'%s' is a f64 field: the key must be an integer field", v);
				else
					q->key_field = f;
			}
		}
		if ((en = get(p, section, "emit"))) {
			if (!strcmp(en->value, "update"))
				q->emit = WEIR_EMIT_UPDATE;
			else if (strcmp(en->value, "watermark"))
				E(en, "'%s': expected watermark or update", en->value);
		}
	}
	if (cfg->nqueries == 0)
		cfg_error(p, p->line, NULL, NULL, "no [query NAME] section: nothing to compute");
	do_state(p, cfg);
	do_ha(p, cfg);
	do_admin(p, cfg);

	/* anything not consumed is unknown */
	for (int i = 0; i < p->ne; i++) {
		struct entry *x = &p->e[i];
		if (x->used)
			continue;
		if (!strcmp(x->section, "dataplane") || !strncmp(x->section, "source ", 7) ||
		    !strcmp(x->section, "state") || !strcmp(x->section, "ha") || !strcmp(x->section, "admin"))
			cfg_error(p, x->line, x->section, x->key, "unknown key");
		else if (!strncmp(x->section, "query ", 6))
			cfg_error(p, x->line, x->section, x->key, "unknown key");
		else
			cfg_error(p, x->line, x->section, NULL, "unknown section");
	}
}

static int
load(struct parse *p, struct weir_config *cfg)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->path, sizeof(cfg->path), "%s", p->file);
	rc = ini_parse_stream(reader, p, handler, p);
	if (rc > 0)
		cfg_error(p, rc, NULL, NULL, "syntax error (expected [section] or key = value)");
	else if (rc < 0)
		cfg_error(p, 0, NULL, NULL, "cannot parse (out of memory)");
	else
		validate(p, cfg);
	for (int i = 0; i < p->ne; i++) {
		free(p->e[i].section);
		free(p->e[i].key);
		free(p->e[i].value);
	}
	free(p->e);
	for (int i = 0; i < p->nraw; i++)
		free(p->raw[i]);
	free(p->raw);
	return p->nerr ? -1 : 0;
}

int
weir_config_load(const char *path, struct weir_config *cfg, FILE *err)
{
	struct parse p = { .file = path, .err = err };
	int rc;

	p.fp = fopen(path, "r");
	if (!p.fp) {
		fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	rc = load(&p, cfg);
	fclose(p.fp);
	return rc;
}

int
weir_config_load_string(const char *name, const char *text, struct weir_config *cfg, FILE *err)
{
	struct parse p = { .file = name, .err = err, .text = text };

	return load(&p, cfg);
}

static const char *
dur(int64_t ns, char *buf, size_t n)
{
	if (ns == 0)
		snprintf(buf, n, "0");
	else if (ns % 1000000000 == 0)
		snprintf(buf, n, "%" PRId64 "s", ns / 1000000000);
	else if (ns % 1000000 == 0)
		snprintf(buf, n, "%" PRId64 "ms", ns / 1000000);
	else if (ns % 1000 == 0)
		snprintf(buf, n, "%" PRId64 "us", ns / 1000);
	else
		snprintf(buf, n, "%" PRId64 "ns", ns);
	return buf;
}

void
weir_config_dump(const struct weir_config *cfg, FILE *out)
{
	static const char *const tn[] = { "i64", "u64", "f64" };
	static const char *const fn[] = { "count", "sum", "min", "max", "avg", "first", "last", "current",
					  "count_distinct" };
	char b1[32], b2[32];

	fprintf(out, "[dataplane]\ndevices = ");
	for (int i = 0; i < cfg->ndevices; i++)
		fprintf(out, "%s%s", i ? ";" : "", cfg->devices[i]);
	fprintf(out, "\nrx_cores = %d\nworkers = %d\nlcores = ", cfg->rx_cores, cfg->workers);
	if (!cfg->ncpus)
		fprintf(out, "auto");
	for (int i = 0; i < cfg->ncpus; i++)
		fprintf(out, "%s%d", i ? "," : "", cfg->cpus[i]);
	fprintf(out, "\nhugepages = %s\nbackpressure = %s\nexit_on_eos = %s\neal_args = %s\n"
		"idle_sleep = %s\nring_size = %u\nlatency = %s\nfused = %s\nsink_rt_priority = %d\n"
		"state_headroom = %" PRId64 "\n",
		cfg->hugepages == WEIR_HP_AUTO ? "auto" : cfg->hugepages == WEIR_HP_ON ? "on" : "off",
		cfg->backpressure == WEIR_BP_BLOCK ? "block" : "drop", cfg->exit_on_eos ? "true" : "false",
		cfg->eal_args, cfg->idle_sleep ? dur(cfg->idle_sleep, b1, sizeof(b1)) : "off", cfg->ring_size,
		cfg->latency ? "on" : "off", cfg->fused ? "true" : "false", cfg->sink_rt_priority,
		cfg->state_headroom);
	for (int i = 0; i < cfg->nsources; i++) {
		const struct weir_source_cfg *s = &cfg->sources[i];
		static const char *const fmts[] = { "wev", "itch50", "line" };
		static const char *const precs[] = { "ns", "us", "ms", "s" };
		fprintf(out, "\n[source %s]\nformat = %s\nudp_port = ", s->name, fmts[s->format]);
		for (int a = 0; a < s->nports; a++)
			fprintf(out, "%s%u", a ? ", " : "", s->udp_ports[a]);
		if (s->format == WEIR_FMT_WEV)
			fprintf(out, "\nschema_id = %u", s->schema_id);
		if (s->format == WEIR_FMT_ITCH50) {
			fprintf(out, "\nsession_date = %s\ntimezone = %s\nkey = %s\norder_book = %u\n"
				"gap_timeout = %s\n", s->session_date, s->timezone,
				s->itch_key == WEIR_ITCH_KEY_LOCATE ? "locate" : "symbol", s->order_book,
				dur(s->gap_timeout, b1, sizeof(b1)));
			if (s->rerequest_host[0])
				fprintf(out, strchr(s->rerequest_host, ':') ? "rerequest = [%s]:%u\n" : "rerequest = %s:%u\n",
					s->rerequest_host, s->rerequest_port);
			fprintf(out, "messages = ");
			for (int c = 0, n = 0; c < 26; c++)
				if (s->itch_types & (1u << c))
					fprintf(out, "%s%c", n++ ? "," : "", 'A' + c);
		}
		if (s->format == WEIR_FMT_LINE) {
			fprintf(out, "\nprecision = %s", precs[s->precision & 3]);
			if (s->measurement[0])
				fprintf(out, "\nmeasurement = %s", s->measurement);
			for (int t = 0; t < s->ntags; t++)
				fprintf(out, "%s%s", t ? ", " : "\ntags = ", s->tags[t]);
		}
		fprintf(out, "\nfields = ");
		for (int f = 0; f < s->nfields; f++)
			fprintf(out, "%s%s:%s", f ? ", " : "", s->field_name[f], tn[s->field_type[f]]);
		fprintf(out, "\nwatermark_delay = %s\nidle_timeout = %s\n", dur(s->watermark_delay, b1, sizeof(b1)),
			s->idle_timeout ? dur(s->idle_timeout, b2, sizeof(b2)) : "off");
		if (s->key_map[0])
			fprintf(out, "key_map = %s\n", s->key_map);
		if (s->key_name[0])
			fprintf(out, "key_name = %s\n", s->key_name);
	}
	for (int i = 0; i < cfg->nqueries; i++) {
		const struct weir_query_cfg *q = &cfg->queries[i];
		if (q->sql) {
			fprintf(out, "\n[query %s]\nsql = ", q->name);
			for (const char *x = q->sql_text; *x; x++) {
				fputc(*x, out);
				if (*x == '\n')
					fputs("    ", out);            /* continuation lines are indented */
			}
			fprintf(out, "\nallowed_lateness = %s", dur(q->lateness, b1, sizeof(b1)));
			goto sink;
		}
		fprintf(out, "\n[query %s]\nfrom = %s\nwindow = ", q->name, cfg->sources[q->source].name);
		if (q->window == WEIR_WIN_TUMBLING)
			fprintf(out, "tumbling %s", dur(q->size, b1, sizeof(b1)));
		else if (q->window == WEIR_WIN_HOPPING)
			fprintf(out, "hopping %s %s", dur(q->size, b1, sizeof(b1)), dur(q->slide, b2, sizeof(b2)));
		else
			fprintf(out, "session %s", dur(q->size, b1, sizeof(b1)));
		fprintf(out, "\nallowed_lateness = %s\naggregates = ", dur(q->lateness, b1, sizeof(b1)));
		for (int a = 0; a < q->naggs; a++) {
			const struct weir_agg_cfg *g = &q->aggs[a];
			if (g->fn == WEIR_AGG_COUNT)
				fprintf(out, "%scount", a ? ", " : "");
			else
				fprintf(out, "%s%s(%s)", a ? ", " : "", fn[g->fn],
					cfg->sources[q->source].field_name[g->field]);
		}
		if (q->nfilter) {
			static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
			const struct weir_source_cfg *src = &cfg->sources[q->source];
			fprintf(out, "\nfilter = ");
			for (int i = 0; i < q->nfilter; i++) {
				const struct weir_filter_cfg *f = &q->filter[i];
				fprintf(out, "%s%s %s ", i ? " and " : "", src->field_name[f->field], ops[f->op]);
				if (src->field_type[f->field] == WEIR_F_F64) {
					double d;
					memcpy(&d, &f->value, 8);
					fprintf(out, "%.17g", d);
				} else if (src->field_type[f->field] == WEIR_F_I64) {
					fprintf(out, "%" PRId64, (int64_t)f->value);
				} else {
					fprintf(out, "%" PRIu64, f->value);
				}
			}
		}
		if (q->key_field >= 0)
			fprintf(out, "\nkey = %s", cfg->sources[q->source].field_name[q->key_field]);
		if (q->emit == WEIR_EMIT_UPDATE)
			fprintf(out, "\nemit = update");
sink:
		fprintf(out, "\nsink = ");
		if (q->sink == WEIR_SINK_STDOUT)
			fprintf(out, "stdout\n");
		else if (q->sink == WEIR_SINK_FILE)
			fprintf(out, "file:%s\n", q->sink_path);
		else
			fprintf(out, "udp:%s:%u\n", q->sink_path, q->sink_port);
	}
	if (cfg->state_dir[0])
		fprintf(out, "\n[state]\ndir = %s\ncheckpoint_interval = %s\nretain = %d\nnice = %d\n",
			cfg->state_dir, dur(cfg->checkpoint_interval, b1, sizeof(b1)), cfg->state_retain,
			cfg->state_nice);
	if (cfg->ha_node[0]) {
		fprintf(out, "\n[ha]\nnode = %s\npeer = %s%s%s:%u\nlisten = %s%s%s:%u\n", cfg->ha_node,
			strchr(cfg->ha_peer_host, ':') ? "[" : "", cfg->ha_peer_host,
			strchr(cfg->ha_peer_host, ':') ? "]" : "", cfg->ha_peer_port,
			strchr(cfg->ha_listen_host, ':') ? "[" : "",
			cfg->ha_listen_host[0] ? cfg->ha_listen_host : "0.0.0.0",
			strchr(cfg->ha_listen_host, ':') ? "]" : "", cfg->ha_listen_port);
		if (cfg->ha_witness_host[0])
			fprintf(out, "witness = %s%s%s:%u\n", strchr(cfg->ha_witness_host, ':') ? "[" : "",
				cfg->ha_witness_host, strchr(cfg->ha_witness_host, ':') ? "]" : "",
				cfg->ha_witness_port);
		fprintf(out, "heartbeat = %s\ndead_after = %d\nfailback = %s\n", dur(cfg->ha_heartbeat, b1, sizeof(b1)),
			cfg->ha_dead_after, cfg->ha_failback_auto ? "auto" : "manual");
		fprintf(out, "hold_down = %s\nsecret_file = %s\npriority = %d\ndir = %s\ncontrol_socket = %s\n"
			"shadow = %d\njournal = %" PRId64 "MiB\nrealtime = %s\n", dur(cfg->ha_hold_down, b1, sizeof(b1)),
			cfg->ha_secret_file, cfg->ha_priority, cfg->ha_dir, cfg->ha_socket, cfg->ha_shadow,
			cfg->ha_journal >> 20, cfg->ha_realtime ? "true" : "false");
	}
	if (cfg->admin) {
		fprintf(out, "\n[admin]\nlisten = %s%s%s:%u\n", strchr(cfg->admin_host, ':') ? "[" : "", cfg->admin_host,
			strchr(cfg->admin_host, ':') ? "]" : "", cfg->admin_port);
		if (cfg->admin_token_file[0])
			fprintf(out, "token_file = %s\n", cfg->admin_token_file);
		fprintf(out, "max_clients = %d\ntimeout = %s\n", cfg->admin_max_clients,
			dur(cfg->admin_timeout, b1, sizeof(b1)));
	}
}

int
weir_source_groups(const struct weir_config *cfg, int s, int *fields)
{
	int n = 0;

	for (int q = 0; q < cfg->nqueries; q++) {
		int i;
		if (cfg->queries[q].source != s)
			continue;
		for (i = 0; i < n && fields[i] != cfg->queries[q].key_field; i++)
			;
		if (i == n)
			fields[n++] = cfg->queries[q].key_field;
	}
	return n;
}

int
weir_query_group(const struct weir_config *cfg, int q)
{
	int fields[WEIR_MAX_QUERIES], n = weir_source_groups(cfg, cfg->queries[q].source, fields);

	for (int i = 0; i < n; i++)
		if (fields[i] == cfg->queries[q].key_field)
			return i;
	return 0;
}
