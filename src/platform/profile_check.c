/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rules a profile value must meet before it is sealed and stored (see
 * profile.h). Pure functions on NUL-terminated input, thread-safe; each
 * answers NULL or a sentence the API returns to the member as is.
 */
#include "platform/profile.h"

#include <stdio.h>
#include <string.h>

const char *sr_profile_check_phone(const char *v)
{
	static const char msg[] = "Give the phone number in international E.164 form: '+', the "
				  "country code and the number, digits only (e.g. +447700900123).";
	size_t n = strlen(v);
	if (n < 9 || n > 16 || v[0] != '+' || v[1] < '1' || v[1] > '9')
		return msg;
	for (size_t i = 1; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return msg;
	return NULL;
}

const char *sr_profile_check_anti_phishing(const char *v)
{
	static const char msg[] =
		"The anti-phishing code must be 4 to 32 characters: letters, digits, spaces and "
		"- _ . ! only, with no space at either end or two in a row.";
	size_t n = strlen(v);
	if (n < SR_PROFILE_APC_MIN || n > SR_PROFILE_APC_MAX || v[0] == ' ' || v[n - 1] == ' ')
		return msg;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == ' ' || ch == '-' || ch == '_' ||
			  ch == '.' || ch == '!';
		if (!ok || (ch == ' ' && v[i + 1] == ' '))
			return msg;
	}
	return NULL;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

const char *sr_profile_check_date_of_birth(const char *v, int today_ymd)
{
	static const char shape[] = "Give the date of birth as YYYY-MM-DD, a real date.";
	if (strlen(v) != 10 || v[4] != '-' || v[7] != '-')
		return shape;
	int parts[3] = {0, 0, 0};
	static const int at[3] = {0, 5, 8}, len[3] = {4, 2, 2};
	for (int p = 0; p < 3; p++)
		for (int i = 0; i < len[p]; i++) {
			char ch = v[at[p] + i];
			if (ch < '0' || ch > '9')
				return shape;
			parts[p] = parts[p] * 10 + (ch - '0');
		}
	int y = parts[0], m = parts[1], d = parts[2];
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12 || d < 1)
		return shape;
	if (d > mdays[m - 1] + (m == 2 && leap(y) ? 1 : 0))
		return shape;
	int ymd = y * 10000 + m * 100 + d;
	if (ymd > today_ymd)
		return "The date of birth cannot be in the future.";
	if (ymd < today_ymd - 130 * 10000)
		return "The date of birth is more than 130 years ago; check the year.";
	return NULL;
}

/* ISO 3166-1 alpha-2 officially assigned codes (249). */
static const char countries[] =
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO "
	"BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ "
	"DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP "
	"GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG "
	"KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML "
	"MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE "
	"PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL "
	"SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM "
	"US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

const char *sr_profile_check_country(const char *v)
{
	static const char msg[] =
		"Give the country as its two-letter ISO 3166-1 code, e.g. DE, GB or US.";
	if (strlen(v) != 2)
		return msg;
	char up[3] = {v[0], v[1], 0};
	for (int i = 0; i < 2; i++) {
		if (up[i] >= 'a' && up[i] <= 'z')
			up[i] = (char)(up[i] - 'a' + 'A');
		if (up[i] < 'A' || up[i] > 'Z')
			return msg;
	}
	for (size_t i = 0; i + 1 < sizeof countries; i += 3)
		if (countries[i] == up[0] && countries[i + 1] == up[1])
			return NULL;
	return msg;
}

/* Length of the UTF-8 sequence at s (0: invalid), RFC 3629 rules. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n;
	unsigned cp;
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = s[0] & 0x1Fu;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = s[0] & 0x0Fu;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3Fu);
	}
	static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	if (cp >= 0x80 && cp < 0xA0)
		return 0; /* C1 controls */
	return n;
}

const char *sr_profile_check_text(const char *v, size_t max, bool required)
{
	size_t n = strlen(v);
	if (n > max)
		return "This value is too long.";
	bool blank = true;
	for (size_t i = 0; i < n;) {
		unsigned char ch = (unsigned char)v[i];
		if (ch < 0x20 || ch == 0x7f)
			return "This value contains control characters (line breaks, tabs); remove "
			       "them.";
		size_t l = utf8_len((const unsigned char *)v + i);
		if (l == 0)
			return "This value is not valid UTF-8 text.";
		if (ch != ' ')
			blank = false;
		i += l;
	}
	if (required && blank)
		return "This value cannot be empty.";
	return NULL;
}
