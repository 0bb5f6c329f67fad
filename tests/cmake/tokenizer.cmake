# Tokenizer, chat template and loss mask (datasets/tokenizer*.c, datasets/chat.c).
hy_add_test(test_tokenizer SOURCES test_tokenizer.c LABELS cpu)
