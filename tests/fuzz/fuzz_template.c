/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for notify/templates: the input is the variables JSON (outside
 * input: names, masked destinations) rendered with every template. Beyond
 * "no crash": a rendered subject has no CR/LF, the HTML part carries no
 * unescaped '<' from a value (the marker "<x" never survives), and a refusal
 * leaves nothing to free.
 */
#include "platform/notify/templates.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *js = malloc(size + 1);
	if (js == NULL)
		return 0;
	memcpy(js, data, size);
	js[size] = '\0';
	for (size_t i = 0; sr_template_names[i] != NULL; i++) {
		struct sr_rendered r;
		struct sr_template_ctx ctx = {.name = sr_template_names[i],
					      .variables_json = js,
					      .reference = "msg_fuzz",
					      .anti_phishing_code = "CODE-1",
					      .date = "2024-01-01 00:00 UTC"};
		if (sr_template_render(&ctx, &r) != 0) {
			if (r.subject || r.text || r.html || r.sms)
				abort();
			continue;
		}
		if (strpbrk(r.subject, "\r\n") != NULL || strstr(r.html, "<x") != NULL)
			abort();
		sr_rendered_free(&r);
	}
	free(js);
	return 0;
}
