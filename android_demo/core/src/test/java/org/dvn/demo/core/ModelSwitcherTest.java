package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

public class ModelSwitcherTest {
  private final List<SwitchEvent> events = Collections.synchronizedList(new ArrayList<>());
  private final FakeModels loader = new FakeModels();
  private final List<String> log = loader.log;
  private ExecutorService pool;
  private TaskInfo digit;
  private TaskInfo parity;
  private ModelSwitcher switcher;

  @Before
  public void setUp() throws ManifestException {
    Manifest manifest = FakeModels.manifest(1000, 2000, 3000);
    digit = manifest.task("digit");
    parity = manifest.task("parity");
    switcher = new ModelSwitcher(loader, events::add);
    pool = Executors.newFixedThreadPool(4);
  }

  @After
  public void tearDown() throws InterruptedException {
    pool.shutdownNow();
    assertTrue(pool.awaitTermination(5, TimeUnit.SECONDS));
    assertEquals("misuse of models", Collections.emptyList(), loader.violations);
  }

  @Test
  public void loadsTheSmallerModelBeforeReleasingTheLargerOneWhenTheBudgetShrinks()
      throws IOException {
    switcher.switchTo(digit.model(3), "initial");
    switcher.switchTo(digit.model(1), "downgrade");
    assertEquals(List.of("load digit/3", "load digit/1", "close digit/3"), log);
  }

  @Test
  public void alsoLoadsBeforeReleasingWhenTheBudgetGrows() throws IOException {
    switcher.switchTo(digit.model(1), "initial");
    switcher.switchTo(digit.model(2), "upgrade");
    assertEquals(List.of("load digit/1", "load digit/2", "close digit/1"), log);
  }

  @Test
  public void reportsEverySwitchWithCauseAndDuration() throws IOException {
    switcher.switchTo(digit.model(3), "initial");
    switcher.switchTo(digit.model(2), "downgrade");
    switcher.switchTo(parity.model(2), "task");
    assertEquals(3, events.size());
    assertNull(events.get(0).from());
    assertSame(digit.model(3), events.get(0).to());
    assertEquals("initial", events.get(0).reason());
    assertSame(digit.model(3), events.get(1).from());
    assertSame(digit.model(2), events.get(1).to());
    assertEquals("downgrade", events.get(1).reason());
    assertEquals("task", events.get(2).reason());
    for (SwitchEvent event : events) {
      assertTrue(event.elapsedNanos() >= 0);
      assertEquals(0, event.inferencesLeftOnOld());
    }
    assertTrue(events.get(1).toString(), events.get(1).toString().startsWith("level 3 -> level 2 (downgrade) in "));
    assertTrue(
        events.get(2).toString(),
        events.get(2).toString().startsWith("digit level 2 (digit_2.tflite) -> parity level 2"));
  }

  @Test
  public void servesFromTheCurrentModel() throws IOException {
    switcher.switchTo(digit.model(2), "initial");
    Inference inference = switcher.run(new float[] {1f});
    assertSame(digit.model(2), inference.model());
    assertEquals(2f, inference.scores()[0], 0f);
    assertTrue(inference.elapsedNanos() >= 0);
    switcher.switchTo(digit.model(1), "downgrade");
    assertSame(digit.model(1), switcher.run(new float[] {1f}).model());
    assertSame(digit.model(1), switcher.currentModel());
  }

  @Test
  public void anInferenceInFlightFinishesOnItsModelWhichClosesOnlyAfterwards() throws Exception {
    switcher.switchTo(digit.model(3), "initial");
    FakeModels.Runner level3 = loader.runners.get(0);
    level3.gate = new CountDownLatch(1);
    Future<Inference> inFlight = pool.submit(() -> switcher.run(new float[] {1f}));
    assertTrue("inference started", level3.entered.await(5, TimeUnit.SECONDS));

    SwitchEvent event = switcher.switchTo(digit.model(1), "downgrade");
    assertEquals(1, event.inferencesLeftOnOld());
    assertFalse("the model in use must stay open", level3.closed.get());
    assertSame("new inferences use the new model", digit.model(1), switcher.run(new float[] {1f}).model());

    level3.gate.countDown();
    Inference finished = inFlight.get(5, TimeUnit.SECONDS);
    assertSame(digit.model(3), finished.model());
    assertEquals(3f, finished.scores()[0], 0f);
    assertTrue("closed once its inference returned", level3.closed.get());
    assertEquals(
        List.of("load digit/3", "run digit/3", "load digit/1", "run digit/1", "close digit/3"), log);
  }

  @Test
  public void aFailedLoadKeepsTheCurrentModelServing() throws IOException {
    switcher.switchTo(digit.model(2), "initial");
    loader.failNextLoad = true;
    assertThrows(IOException.class, () -> switcher.switchTo(digit.model(3), "upgrade"));
    assertSame(digit.model(2), switcher.run(new float[] {1f}).model());
    assertEquals(1, events.size());
  }

  @Test
  public void switchingToTheServedModelDoesNothing() throws IOException {
    switcher.switchTo(digit.model(2), "initial");
    assertNull(switcher.switchTo(digit.model(2), "upgrade"));
    assertEquals(List.of("load digit/2"), log);
    assertEquals(1, events.size());
  }

  @Test
  public void runBeforeTheFirstSwitchOrAfterCloseFails() throws IOException {
    IllegalStateException before =
        assertThrows(IllegalStateException.class, () -> switcher.run(new float[] {1f}));
    assertTrue(before.getMessage().contains("call switchTo first"));
    switcher.switchTo(digit.model(1), "initial");
    switcher.close();
    assertEquals(List.of("load digit/1", "close digit/1"), log);
    IllegalStateException after =
        assertThrows(IllegalStateException.class, () -> switcher.run(new float[] {1f}));
    assertTrue(after.getMessage().contains("closed"));
    assertThrows(IllegalStateException.class, () -> switcher.switchTo(digit.model(2), "upgrade"));
    assertNull(switcher.currentModel());
    switcher.close();
  }

  @Test
  public void closeWaitsForTheInferenceInFlightBeforeClosingTheModel() throws Exception {
    switcher.switchTo(digit.model(1), "initial");
    FakeModels.Runner level1 = loader.runners.get(0);
    level1.gate = new CountDownLatch(1);
    Future<Inference> inFlight = pool.submit(() -> switcher.run(new float[] {1f}));
    assertTrue(level1.entered.await(5, TimeUnit.SECONDS));
    switcher.close();
    assertFalse(level1.closed.get());
    level1.gate.countDown();
    assertSame(digit.model(1), inFlight.get(5, TimeUnit.SECONDS).model());
    assertTrue(level1.closed.get());
  }

  @Test
  public void manyInferencesDuringManySwitchesNeverUseAClosedModel() throws Exception {
    loader.logRuns = false;
    switcher.switchTo(digit.model(3), "initial");
    AtomicBoolean stop = new AtomicBoolean();
    List<Future<Integer>> workers = new ArrayList<>();
    for (int w = 0; w < 3; w++) {
      workers.add(
          pool.submit(
              () -> {
                int runs = 0;
                while (!stop.get()) {
                  Inference inference = switcher.run(new float[] {1f});
                  assertEquals(inference.model().level(), inference.scores()[0], 0f);
                  runs++;
                }
                return runs;
              }));
    }
    for (int i = 0; i < 300; i++) {
      TaskInfo task = i % 7 == 0 ? parity : digit;
      switcher.switchTo(task.model(1 + i % 3), i % 2 == 0 ? "downgrade" : "upgrade");
    }
    stop.set(true);
    int totalRuns = 0;
    for (Future<Integer> worker : workers) {
      totalRuns += worker.get(10, TimeUnit.SECONDS);
    }
    switcher.close();
    assertTrue("workers ran", totalRuns > 0);
    for (FakeModels.Runner runner : loader.runners) {
      assertTrue(runner.model + " closed exactly once", runner.closed.get());
    }
  }
}
