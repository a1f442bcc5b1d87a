// A plain C++ main for a design under the job harness (sim/harness.py): no cocotb, no VPI, no Python.
// It evaluates the model from one timing event to the next until the harness raises `done`, then
// prints the simulation's wall time. Linked by sim/runner.py (SimBuild.raw_executable) against the
// same objects as the cocotb build.
#include <chrono>
#include <cstdio>
#include <memory>

#include "Vtop.h"
#include "verilated.h"

int main(int argc, char** argv) {
    const std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    context->commandArgs(argc, argv);
    const std::unique_ptr<Vtop> top{new Vtop{context.get(), ""}};
    const auto t0 = std::chrono::steady_clock::now();
    while (!context->gotFinish() && !top->done) {
        top->eval();
        if (!top->eventsPending()) break;
        context->time(top->nextTimeSlot());
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    top->final();
    std::printf("wall_s %.6f\n", wall);
    return top->done ? 0 : 1;
}
