# Communicator (issue 6).  test_comm (cpu): launcher environment detection,
# TCP rendezvous with forked ranks, single/tcp communicators, ZeRO-1 sharding
# arithmetic, `hymba launch`.  test_comm_nccl: world size 1 on one GPU (gpu)
# and every visible GPU through `hymba launch` (multigpu; skipped with < 2);
# built whenever the NCCL communicator is (CI compiles and links it).
hy_add_test(test_comm SOURCES test_comm.c test_comm_shard.c test_comm_launch.c LABELS cpu TIMEOUT 600)
if(TARGET hy_comm_nccl)
  hy_add_test(test_comm_nccl SOURCES test_comm_nccl.c LABELS gpu LIBS hy_comm_nccl TIMEOUT 600)
  add_test(NAME test_comm_nccl_multigpu COMMAND test_comm_nccl --multigpu)
  set_tests_properties(test_comm_nccl_multigpu PROPERTIES LABELS multigpu TIMEOUT 900 SKIP_RETURN_CODE 77
    ENVIRONMENT "HYMBA_BIN=$<TARGET_FILE:hymba>;OMP_NUM_THREADS=2")
endif()
