# Communicator (issue 6).  test_comm (cpu): launcher environment detection,
# TCP rendezvous with forked ranks, single/tcp communicators, ZeRO-1 sharding
# arithmetic, `hymba launch`.  test_comm_nccl: world size 1 on one GPU (gpu)
# and every visible GPU through `hymba launch` (multigpu; skipped with < 2);
# built whenever the NCCL communicator is (CI compiles and links it).
hy_add_test(test_comm SOURCES test_comm.c test_comm_shard.c test_comm_launch.c LABELS cpu TIMEOUT 600)
if(TARGET hy_comm_nccl)
  hy_add_test(test_comm_nccl SOURCES test_comm_nccl.c LABELS gpu LIBS hy_comm_nccl TIMEOUT 600)
  # its own executable (same source): tests/gpu/run.sh builds every test name as a target
  hy_add_test(test_comm_nccl_multigpu SOURCES test_comm_nccl.c LABELS multigpu LIBS hy_comm_nccl ARGS --multigpu TIMEOUT 900)
  set_tests_properties(test_comm_nccl_multigpu PROPERTIES SKIP_RETURN_CODE 77)
endif()
