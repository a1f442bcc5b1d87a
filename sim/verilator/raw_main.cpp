// A plain C++ main for a design under the job harness (sim/harness.py): no cocotb, no VPI, no Python.
// It evaluates the model from one timing event to the next until the harness raises `done`, then
// prints the simulation's wall time. Linked by sim/runner.py (SimBuild.raw_executable) against the
// same objects as the cocotb build. A traced build writes its waves to +pam_waves=PATH when given.
#include <chrono>
#include <cstdio>
#include <memory>

#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
using Tracer = VerilatedFstC;
#elif VM_TRACE
#include "verilated_vcd_c.h"
using Tracer = VerilatedVcdC;
#endif

int main(int argc, char** argv) {
    const std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    context->commandArgs(argc, argv);
    const std::unique_ptr<Vtop> top{new Vtop{context.get(), ""}};
#if VM_TRACE
    std::unique_ptr<Tracer> tracer;
    const char* waves = context->commandArgsPlusMatch("pam_waves=");
    if (waves[0]) {
        context->traceEverOn(true);
        tracer.reset(new Tracer);
        top->trace(tracer.get(), 99);
        tracer->open(waves + std::char_traits<char>::length("+pam_waves="));
    }
#endif
    const auto t0 = std::chrono::steady_clock::now();
    while (!context->gotFinish() && !top->done) {
        top->eval();
#if VM_TRACE
        if (tracer) tracer->dump(context->time());
#endif
        if (!top->eventsPending()) break;
        context->time(top->nextTimeSlot());
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    top->final();
#if VM_TRACE
    if (tracer) tracer->close();
#endif
    std::printf("wall_s %.6f\n", wall);
    return top->done ? 0 : 1;
}
