/* placeholder until the CLI lands */
#include <stdio.h>
int main(void) { puts(NESTLAB_VERSION); return 0; }
