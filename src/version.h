/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VERSION_H
#define SR_VERSION_H
#define SR_VERSION "0.1.0"
#endif
