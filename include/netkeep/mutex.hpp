#pragma once
// Mutexes Clang's thread-safety analysis can check (-Wthread-safety; tools/check-threads
// runs it): a member written `std::uint64_t last_seq_ GUARDED_BY(mutex_);` may only be
// touched while mutex_ is held, and the compiler says where it is not. As LevelDB's
// port::Mutex and thread_annotations.h. Under GCC the annotations compile to nothing.
//
// std::mutex and std::shared_mutex carry no annotations in libstdc++, hence these thin
// wrappers; CondVar waits on a Mutex the caller holds.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define NETKEEP_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define NETKEEP_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) NETKEEP_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY NETKEEP_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) NETKEEP_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) NETKEEP_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) NETKEEP_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) NETKEEP_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) NETKEEP_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) NETKEEP_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) NETKEEP_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) NETKEEP_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) NETKEEP_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define EXCLUDES(...) NETKEEP_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS NETKEEP_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace netkeep {

class CAPABILITY("mutex") Mutex {
public:
    void lock() ACQUIRE() { mutex_.lock(); }
    void unlock() RELEASE() { mutex_.unlock(); }

private:
    friend class CondVar;
    std::mutex mutex_;
};

// Holds a Mutex for its scope; unlock() and lock() let a loop drop it around slow work.
class SCOPED_CAPABILITY MutexLock {
public:
    explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
    ~MutexLock() RELEASE() {
        if (held_) mutex_.unlock();
    }
    MutexLock(const MutexLock&) = delete;
    MutexLock& operator=(const MutexLock&) = delete;

    void unlock() RELEASE() {
        mutex_.unlock();
        held_ = false;
    }
    void lock() ACQUIRE() {
        mutex_.lock();
        held_ = true;
    }

private:
    Mutex& mutex_;
    bool held_ = true;
};

// Readers share it, a writer holds it alone.
class CAPABILITY("shared mutex") SharedMutex {
public:
    void lock() ACQUIRE() { mutex_.lock(); }
    void unlock() RELEASE() { mutex_.unlock(); }
    void lock_shared() ACQUIRE_SHARED() { mutex_.lock_shared(); }
    void unlock_shared() RELEASE_SHARED() { mutex_.unlock_shared(); }

private:
    std::shared_mutex mutex_;
};

class SCOPED_CAPABILITY SharedLock {
public:
    explicit SharedLock(SharedMutex& mutex) ACQUIRE_SHARED(mutex) : mutex_(mutex) {
        mutex_.lock_shared();
    }
    ~SharedLock() RELEASE() { mutex_.unlock_shared(); }
    SharedLock(const SharedLock&) = delete;
    SharedLock& operator=(const SharedLock&) = delete;

private:
    SharedMutex& mutex_;
};

class SCOPED_CAPABILITY ExclusiveLock {
public:
    explicit ExclusiveLock(SharedMutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
    ~ExclusiveLock() RELEASE() { mutex_.unlock(); }
    ExclusiveLock(const ExclusiveLock&) = delete;
    ExclusiveLock& operator=(const ExclusiveLock&) = delete;

private:
    SharedMutex& mutex_;
};

// A condition variable whose waits need the Mutex held (and hold it again on return).
class CondVar {
public:
    void wait(Mutex& mutex) REQUIRES(mutex) {
        std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
        cv_.wait(lock);
        lock.release();
    }
    // Whether it was woken (or spuriously) before `deadline`; false on timeout.
    template <class Clock, class Duration>
    bool wait_until(Mutex& mutex, std::chrono::time_point<Clock, Duration> deadline)
        REQUIRES(mutex) {
        std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
        const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
        lock.release();
        return woken;
    }
    void notify_one() { cv_.notify_one(); }
    void notify_all() { cv_.notify_all(); }

private:
    std::condition_variable cv_;
};

}  // namespace netkeep
