# Dataset pipeline: JSONL reading, record validation, token store, loader, prepare.
hy_add_test(test_data SOURCES test_data.c LABELS cpu)
hy_add_test(test_store SOURCES test_store.c data_synth.c LABELS cpu)
hy_add_test(test_loader SOURCES test_loader.c data_synth.c LABELS cpu)
hy_add_test(test_prepare SOURCES test_prepare.c LABELS cpu)
hy_add_test(test_data_cli SOURCES test_data_cli.c LABELS cpu)
