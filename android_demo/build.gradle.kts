// Plugin versions for all modules. AGP 9.3 needs Gradle 9.5+ and JDK 17+.
plugins {
    id("com.android.application") version "9.3.1" apply false
}
