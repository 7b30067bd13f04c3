// The demo app. Models and manifest.json come from an export copied in by ../import-export.sh.
plugins {
    id("com.android.application")
}

android {
    namespace = "org.dvn.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "org.dvn.demo"
        minSdk = 26 // Android 8.0: above LiteRT 2.3's own minimum, covers nearly all devices.
        targetSdk = 36 // Android 16.
        versionCode = 1
        versionName = "1.0"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // Stored uncompressed so that AssetManager.openFd can memory-map each model.
        noCompress += "tflite"
    }
}

dependencies {
    implementation(project(":core"))
    // LiteRT keeps the org.tensorflow.lite Interpreter API (CPU) in its 2.x artifact.
    implementation("com.google.ai.edge.litert:litert:2.3.2")
}
