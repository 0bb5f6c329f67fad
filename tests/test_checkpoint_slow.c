/* test_checkpoint_slow.c — placeholder while the cases are written. */
#include "tests/harness.h"
HY_TEST(placeholder) { return 0; }
int main(int argc, char **argv) { return hy_test_main(argc, argv); }
